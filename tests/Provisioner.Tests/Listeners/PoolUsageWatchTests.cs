using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Listeners;

namespace Kldload.Provisioner.Tests.Listeners;

public sealed class PoolUsageWatchTests
{
    private static readonly DhcpSubnet Subnet = new()
    {
        Network = Ipv4Address.Parse("10.0.0.0"),
        PrefixLength = 24,
        PoolStart = Ipv4Address.Parse("10.0.0.100"),
        PoolEnd = Ipv4Address.Parse("10.0.0.199"),
    };

    private static DhcpPoolUsage Used(int active) => new(Subnet, 100, active, 0, 0, 0);

    [Fact]
    public void Crossed_PoolPassesNinetyPercent_WarnsOnceUntilItFallsBack()
    {
        var watch = new PoolUsageWatch();
        Assert.Empty(watch.Crossed([Used(90)]));
        Assert.Equal("10.0.0.0/24", Assert.Single(watch.Crossed([Used(91)])).Name);
        Assert.Empty(watch.Crossed([Used(95)]));
        Assert.Empty(watch.Crossed([Used(100)]));
        Assert.Empty(watch.Crossed([Used(80)]));
        Assert.Single(watch.Crossed([Used(91)]));
    }
}
