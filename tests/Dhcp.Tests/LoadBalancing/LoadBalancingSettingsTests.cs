using Kldload.Dhcp.LoadBalancing;
using Kldload.Provisioner.Settings;

namespace Kldload.Dhcp.Tests.LoadBalancing;

/// <summary><c>Dhcp:LoadBalancing</c> and <c>Dhcp:PeerTimeout</c> as kldload reads them at start.</summary>
public sealed class LoadBalancingSettingsTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("kldload-lbsettings-").FullName;

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);

    private KldloadConfiguration Load(out IReadOnlyList<SettingError> errors, params string[] overrides)
    {
        var root = KldloadConfiguration.BuildRoot([$"--Kldload:DataDir={_dataDir}", .. overrides], Path.Combine(_dataDir, "none.json"));
        return KldloadConfiguration.Load(root, out errors);
    }

    private static readonly string[] FullOnLoopback =
    [
        "--Dhcp:Mode=Full", "--Dhcp:Interface=lo",
        "--Dhcp:Subnets:0:Network=10.0.0.0/24", "--Dhcp:Subnets:0:PoolStart=10.0.0.100", "--Dhcp:Subnets:0:PoolEnd=10.0.0.199",
    ];

    [Fact]
    public void Load_Default_NoLoadBalancingTenSecondPeerTimeout()
    {
        var config = Load(out var errors);

        Assert.Empty(errors);
        Assert.Equal(DhcpLoadBalancingRole.None, config.Dhcp.LoadBalancing);
        Assert.Equal(TimeSpan.FromSeconds(10), config.Dhcp.PeerTimeout);
    }

    [Fact]
    public void Load_SecondaryOnPostgreSql_Binds()
    {
        var config = Load(out var errors, [.. FullOnLoopback, "--Dhcp:LoadBalancing=Secondary", "--Dhcp:PeerTimeout=00:00:04",
            "--Database:Provider=PostgreSql", "--Database:ConnectionString=Host=db1;Database=kldload;Username=k"]);

        Assert.Empty(errors);
        Assert.Equal(DhcpLoadBalancingRole.Secondary, config.Dhcp.LoadBalancing);
        Assert.Equal(TimeSpan.FromSeconds(4), config.Dhcp.PeerTimeout);
    }

    [Fact]
    public void Load_LoadBalancingOnLiteDbInProxyModeWithOneSecondTimeout_ListsEveryProblem()
    {
        Load(out var errors, "--Dhcp:Mode=Proxy", "--Dhcp:Interface=lo", "--Dhcp:LoadBalancing=Primary", "--Dhcp:PeerTimeout=00:00:01");

        Assert.Equal(
            [
                "Dhcp:PeerTimeout = '00:00:01': allowed: a duration (d.hh:mm:ss.fff) from 00:00:02 to 01:00:00",
                "Dhcp:LoadBalancing = 'Primary': allowed: None when Dhcp:Mode is Proxy (load balancing splits the pools of Full mode)",
                "Dhcp:LoadBalancing = 'Primary': allowed: None with Database:Provider LiteDb (load balancing needs Database:Provider PostgreSql, shared by both servers)",
            ],
            errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Load_UnknownRole_NamesTheRoles()
    {
        Load(out var errors, [.. FullOnLoopback, "--Dhcp:LoadBalancing=Tertiary"]);

        Assert.Equal("Dhcp:LoadBalancing = 'Tertiary': allowed: None, Primary, Secondary", Assert.Single(errors).ToString());
    }
}
