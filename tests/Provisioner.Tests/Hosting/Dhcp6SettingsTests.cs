using System.Net;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Tests.Hosting;

public sealed class Dhcp6SettingsTests : IDisposable
{
    private readonly SettingsUnderTest _settings = new();

    public void Dispose() => _settings.Dispose();

    private KldloadConfiguration Load(out IReadOnlyList<SettingError> errors, params string[] overrides) => _settings.Load(out errors, overrides);

    [Fact]
    public void Load_Defaults_Dhcp6IsOff()
    {
        var config = Load(out var errors);
        Assert.Empty(errors);
        Assert.Equal(DhcpMode.Off, config.Dhcp6.Mode);
        Assert.Empty(config.Dhcp6.Subnets);
        Assert.Equal(TimeSpan.FromMinutes(10), config.Dhcp6.DeclineHoldTime);
    }

    [Fact]
    public void Load_FullModeOnLoopback_ReadsSubnetAndReservations()
    {
        var config = Load(out var errors,
            "--Dhcp6:Mode=Full", "--Dhcp6:Interface=lo", "--Dhcp6:ServerAddress=fd00:10::1",
            "--Dhcp6:Subnets:0:Prefix=fd00:10::/64", "--Dhcp6:Subnets:0:PoolStart=fd00:10::100", "--Dhcp6:Subnets:0:PoolEnd=fd00:10::1ff",
            "--Dhcp6:Subnets:0:DnsServers=fd00:10::1", "--Dhcp6:Subnets:0:ValidLifetime=02:00:00",
            "--Dhcp6:Reservations:0:Duid=00:03:00:01:52:54:00:12:34:56", "--Dhcp6:Reservations:0:Address=fd00:10::10",
            "--Dhcp6:Reservations:1:Mac=52:54:00:12:34:57", "--Dhcp6:Reservations:1:Address=fd00:10::11");
        Assert.Empty(errors);
        var subnet = Assert.Single(config.Dhcp6.Subnets);
        Assert.Equal(IPNetwork.Parse("fd00:10::/64"), subnet.Prefix);
        Assert.Equal(IPAddress.Parse("fd00:10::1ff"), subnet.PoolEnd);
        Assert.Equal(TimeSpan.FromHours(2), subnet.ValidLifetime);
        Assert.Equal([IPAddress.Parse("fd00:10::1")], subnet.DnsServers);
        Assert.Equal(2, config.Dhcp6.Reservations.Count);
        Assert.Equal("00:03:00:01:52:54:00:12:34:56", config.Dhcp6.Reservations[0].Duid!.ToString());
        Assert.NotNull(config.Dhcp6.Reservations[1].Mac);
    }

    [Fact]
    public void Load_BadDhcp6Settings_ReportsEveryProblemAtOnce()
    {
        Load(out var errors,
            "--Dhcp6:Mode=Ful", "--Dhcp6:ServerAddress=10.0.0.1",
            "--Dhcp6:Subnets:0:Prefix=10.0.0.0/24", "--Dhcp6:Subnets:1:Prefix=fd00:20::/64", "--Dhcp6:Subnets:1:PoolStart=fd00:20::9", "--Dhcp6:Subnets:1:PoolEnd=fd00:21::1",
            "--Dhcp6:Subnets:2:Prefix=fd00:30::/64", "--Dhcp6:Subnets:2:PoolStart=fd00:30::9", "--Dhcp6:Subnets:2:PoolEnd=fd00:30::1",
            "--Dhcp6:Reservations:0:Address=fd00:10::5", "--Dhcp6:Reservations:1:Duid=zz", "--Dhcp6:Reservations:1:Mac=52:54:00:12:34:56", "--Dhcp6:Reservations:1:Address=fd00:10::6",
            "--Dhcp6:Colour=blue");
        var keys = errors.Select(e => e.Key).ToList();
        Assert.Contains("Dhcp6:Mode", keys);
        Assert.Contains("Dhcp6:ServerAddress", keys);
        Assert.Contains("Dhcp6:Subnets:0:Prefix", keys);
        Assert.Contains("Dhcp6:Subnets:1:PoolEnd", keys);
        Assert.Contains("Dhcp6:Subnets:2:PoolEnd", keys);
        Assert.Contains("Dhcp6:Reservations:0", keys);
        Assert.Contains("Dhcp6:Reservations:1", keys);
        Assert.Contains("Dhcp6:Reservations:1:Duid", keys);
        Assert.Contains("Dhcp6:Colour", keys);
    }

    [Fact]
    public void Load_FullModeWithoutInterfaceOrSubnets_IsRefused()
    {
        Load(out var errors, "--Dhcp6:Mode=Full");
        Assert.Contains(errors, e => e.Key == "Dhcp6:Interface");
        Assert.Contains(errors, e => e.Key == "Dhcp6:Subnets");
    }
}
