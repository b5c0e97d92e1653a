using System.Net;
using Kldload.Provisioner.Cli;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Tests.Cli;

public sealed class SetupTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("klsetup-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("10.0.0.1", 24, "10.0.0.0/24", "10.0.0.128", "10.0.0.254")]
    [InlineData("10.0.0.200", 24, "10.0.0.0/24", "10.0.0.1", "10.0.0.127")]
    [InlineData("192.168.4.9", 22, "192.168.4.0/22", "192.168.6.0", "192.168.7.254")]
    public void BuildProposal_NoOtherServer_FullWithAPoolAwayFromTheServer(string address, int prefix, string network, string start, string end)
    {
        var proposal = SetupCommand.BuildProposal(new BootInterfaceCandidate("eth1", IPAddress.Parse(address), prefix, false), []);

        Assert.Equal(DhcpMode.Full, proposal.Mode);
        Assert.Equal(network, proposal.Network.ToString());
        Assert.Equal(start, proposal.PoolStart.ToString());
        Assert.Equal(end, proposal.PoolEnd.ToString());
        Assert.Equal(new Uri($"http://{address}:8080"), proposal.ServerUrl);
    }

    [Fact]
    public void BuildProposal_AnotherServerAnswered_Proxy()
    {
        var other = new ForeignDhcpServer(IPAddress.Parse("10.0.0.254"), IPAddress.Parse("10.0.0.50"));

        var proposal = SetupCommand.BuildProposal(new BootInterfaceCandidate("eth1", IPAddress.Parse("10.0.0.1"), 24, false), [other]);

        Assert.Equal(DhcpMode.Proxy, proposal.Mode);
    }

    [Fact]
    public void Propose_SeveralInterfaces_TheOneWithoutTheDefaultRoute()
    {
        BootInterfaceCandidate[] candidates =
        [
            new("eth0", IPAddress.Parse("192.0.2.10"), 24, true),
            new("eth1", IPAddress.Parse("10.0.0.1"), 24, false),
        ];

        Assert.Equal("eth1", SetupCommand.Propose(candidates).Name);
        Assert.Equal("eth0", SetupCommand.Propose(candidates[..1]).Name);
    }

    [Fact]
    public async Task WriteAsync_OverTheRepositorySettings_KeepsOtherKeysAndLoadsClean()
    {
        var file = Path.Combine(_dir, "appsettings.json");
        File.Copy(Path.Combine(RepositoryPaths.Root, "appsettings.json"), file);
        var proposal = SetupCommand.BuildProposal(new BootInterfaceCandidate("lo", IPAddress.Parse("127.0.0.1"), 8, false), []);

        await SetupCommand.WriteAsync(file, proposal, CancellationToken.None);

        Assert.True(File.Exists(file + ".bak"));
        var config = KldloadConfiguration.Load(KldloadConfiguration.BuildRoot([$"--Kldload:DataDir={Path.Combine(_dir, "var")}"], file), out var errors);
        Assert.Empty(errors);
        Assert.Equal(DhcpMode.Full, config.Dhcp.Mode);
        Assert.Equal("lo", config.Dhcp.Interface);
        Assert.Equal(IPAddress.Parse("127.128.0.0"), Assert.Single(config.Dhcp.Subnets).PoolStart);
        Assert.Equal(new Uri("http://127.0.0.1:8080"), config.Kldload.ServerUrl);
        Assert.Equal(500, config.Tftp.MaxSessions);
    }
}
