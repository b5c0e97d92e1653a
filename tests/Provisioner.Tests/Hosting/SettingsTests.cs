using Kldload.Provisioner.Hosting.Settings;

namespace Kldload.Provisioner.Tests.Hosting;

public sealed class SettingsTests : IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), $"kldload-settings-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dataDir))
        {
            Directory.Delete(_dataDir, recursive: true);
        }
    }

    private KldloadConfiguration Load(out IReadOnlyList<SettingError> errors, params string[] overrides)
    {
        var appsettings = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        var root = KldloadConfiguration.BuildRoot([$"--Kldload:DataDir={_dataDir}", .. overrides], appsettings);
        return KldloadConfiguration.Load(root, out errors);
    }

    [Fact]
    public void Load_ShippedAppSettings_HasNoErrorsAndDocumentedDefaults()
    {
        var config = Load(out var errors);
        Assert.Empty(errors);
        Assert.Equal(DhcpMode.Off, config.Dhcp.Mode);
        Assert.Equal(69, config.Tftp.Endpoint.Port);
        Assert.Equal(EnrollmentPolicy.Approve, config.Attestation.EnrollmentPolicy);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7, 9], config.Attestation.Pcrs);
        Assert.Equal(TimeSpan.FromMinutes(15), config.Boot.TokenLifetime);
        Assert.False(config.Mesh.Enabled);
        Assert.True(config.Mesh.LockPublicNic);
        Assert.Equal(9100, config.Mesh.MetricsPort);
        Assert.Equal(MeshTopologyMode.HubAndSpoke, config.Mesh.Topology);
        Assert.Equal(new Uri("http://0.0.0.0:8080"), Assert.Single(config.Urls));
        Assert.Equal(Path.Combine(_dataDir, "admin.token"), config.Auth.AdminTokenFile);
        Assert.Null(config.Boot.DefaultChannel);
        Assert.Equal(Kldload.Dhcp.RouterDiscovery.RouterAdvertisementMode.Auto, config.Dhcp.RouterAdvertisements);
    }

    [Theory]
    [InlineData("Off", Kldload.Dhcp.RouterDiscovery.RouterAdvertisementMode.Off)]
    [InlineData("on", Kldload.Dhcp.RouterDiscovery.RouterAdvertisementMode.On)]
    [InlineData("Auto", Kldload.Dhcp.RouterDiscovery.RouterAdvertisementMode.Auto)]
    public void Load_RouterAdvertisements_Binds(string value, Kldload.Dhcp.RouterDiscovery.RouterAdvertisementMode expected)
    {
        var config = Load(out var errors, "--Dhcp:Mode=Proxy", "--Dhcp:Interface=lo", $"--Dhcp:RouterAdvertisements={value}");
        Assert.Empty(errors);
        Assert.Equal(expected, config.Dhcp.RouterAdvertisements);
    }

    [Fact]
    public void Load_RouterAdvertisementsMisspeltOrOnWithoutDhcp_NamesTheKey()
    {
        Load(out var errors, "--Dhcp:RouterAdvertisements=Yes");
        Assert.Equal("Dhcp:RouterAdvertisements = 'Yes': allowed: Off, On, Auto", Assert.Single(errors).ToString());
        Load(out errors, "--Dhcp:RouterAdvertisements=On");
        Assert.StartsWith("Dhcp:RouterAdvertisements = 'On': allowed: On only with Dhcp:Mode Full or Proxy", Assert.Single(errors).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MeshEnabledWithPortZero_NamesUrlsUnlessServerUrlGivesThePort()
    {
        Load(out var errors, "--urls=http://127.0.0.1:0", "--Mesh:Enabled=true");
        Assert.Contains(errors, e => e.Key == "urls" && e.Problem.Contains("Mesh:Enabled", StringComparison.Ordinal));

        var config = Load(out errors, "--urls=http://127.0.0.1:0", "--Mesh:Enabled=true", "--Kldload:ServerUrl=http://10.0.0.1:8080");
        Assert.Empty(errors);
        Assert.Equal(8080, config.MeshHttpPort);
    }

    [Fact]
    public void Load_MeshTopology_GroupsNeedGroupLabelsAndOnlyGroupsTakesThem()
    {
        Load(out var errors, "--Mesh:Topology=Groups");
        Assert.Contains(errors, e => e.Key == "Mesh:Groups" && e.Problem.Contains("at least one", StringComparison.Ordinal));

        Load(out errors, "--Mesh:Topology=FullMesh", "--Mesh:Groups=rack", "--Mesh:Topology=Star");
        Assert.Contains(errors, e => e.Key == "Mesh:Topology" && e.Problem.Contains("HubAndSpoke, FullMesh, Groups", StringComparison.Ordinal));

        Load(out errors, "--Mesh:Topology=HubAndSpoke", "--Mesh:Groups=rack,bad label,rack");
        Assert.Equal(3, errors.Count(e => e.Key == "Mesh:Groups")); // only with Groups, a bad name, a name twice

        var config = Load(out errors, "--Mesh:Topology=Groups", "--Mesh:Groups:0=rack", "--Mesh:Groups:1=role");
        Assert.Empty(errors);
        Assert.Equal(MeshTopologyMode.Groups, config.Mesh.Topology);
        Assert.Equal(["rack", "role"], config.Mesh.Groups);
        Assert.Equal(MeshTopologyMode.HubAndSpoke, Load(out _).Mesh.Topology);
    }

    [Fact]
    public void Load_MisspeltEnum_NamesKeyValueAndAllowedValues()
    {
        Load(out var errors, "--Dhcp:Mode=Ful");
        var e = Assert.Single(errors);
        Assert.Equal("Dhcp:Mode = 'Ful': allowed: Off, Full, Proxy", e.ToString());
    }

    [Fact]
    public void Load_NumericEnum_IsRefused()
    {
        Load(out var errors, "--Attestation:EnrollmentPolicy=2");
        Assert.Equal("Attestation:EnrollmentPolicy", Assert.Single(errors).Key);
    }

    [Fact]
    public void Load_UnwritableDataDir_NamesKldloadDataDir()
    {
        var root = KldloadConfiguration.BuildRoot(["--Kldload:DataDir=/proc/kldload"], Path.Combine(AppContext.BaseDirectory, "appsettings.json"));
        KldloadConfiguration.Load(root, out var errors);
        var e = Assert.Single(errors);
        Assert.Equal("Kldload:DataDir", e.Key);
        Assert.Contains("writable", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnknownKeyInOwnSection_IsReported()
    {
        Load(out var errors, "--Tftp:MaxSesions=5");
        var e = Assert.Single(errors);
        Assert.Equal("Tftp:MaxSesions", e.Key);
        Assert.Contains("unknown setting", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SeveralBadKeys_ReportsEveryOne()
    {
        Load(out var errors, "--Tftp:Endpoint=nowhere", "--Tftp:MaxBlockSize=4", "--Boot:TokenLifetime=soon", "--Mesh:Prefix6=2001:db8::/64", "--Kldload:ServerUrl=ftp://x");
        string[] expected = ["Boot:TokenLifetime", "Kldload:ServerUrl", "Mesh:Prefix6", "Tftp:Endpoint", "Tftp:MaxBlockSize"];
        Assert.Equal(expected, errors.Select(e => e.Key).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void Load_FullDhcpWithoutInterfaceOrSubnets_ReportsBoth()
    {
        Load(out var errors, "--Dhcp:Mode=Full");
        Assert.Contains(errors, e => e.Key == "Dhcp:Interface");
        Assert.Contains(errors, e => e.Key == "Dhcp:Subnets");
    }

    [Fact]
    public void Load_PoolOutsideNetwork_IsReported()
    {
        var config = Load(
            out var errors,
            "--Dhcp:Mode=Full",
            "--Dhcp:Interface=lo",
            "--Dhcp:Subnets:0:Network=10.9.0.0/24",
            "--Dhcp:Subnets:0:PoolStart=10.9.0.10",
            "--Dhcp:Subnets:0:PoolEnd=10.9.1.10");
        var e = Assert.Single(errors);
        Assert.Equal("Dhcp:Subnets:0:PoolEnd", e.Key);
        Assert.Empty(config.Dhcp.Subnets);
    }

    [Fact]
    public void Load_ValidSubnetAndReservation_Binds()
    {
        var config = Load(
            out var errors,
            "--Dhcp:Mode=Full",
            "--Dhcp:Interface=lo",
            "--Dhcp:Subnets:0:Network=10.9.0.0/24",
            "--Dhcp:Subnets:0:PoolStart=10.9.0.10",
            "--Dhcp:Subnets:0:PoolEnd=10.9.0.20",
            "--Dhcp:Subnets:0:DnsServers=10.9.0.1,10.9.0.2",
            "--Dhcp:Subnets:0:LeaseTime=00:10:00",
            "--Dhcp:Reservations:0:Mac=52-54-00-AA-BB-CC",
            "--Dhcp:Reservations:0:Address=10.9.0.5");
        Assert.Empty(errors);
        var subnet = Assert.Single(config.Dhcp.Subnets);
        Assert.Equal(2, subnet.DnsServers.Count);
        Assert.Equal(TimeSpan.FromMinutes(10), subnet.LeaseTime);
        Assert.Equal("525400AABBCC", Assert.Single(config.Dhcp.Reservations).Mac.ToString());
    }

    [Fact]
    public void BuildRoot_CommandLineOverridesEnvironment()
    {
        Environment.SetEnvironmentVariable("KLDLOAD_Mesh__Keepalive", "7");
        try
        {
            Assert.Equal(7, Load(out _).Mesh.Keepalive);
            Assert.Equal(9, Load(out _, "--Mesh:Keepalive=9").Mesh.Keepalive);
        }
        finally
        {
            Environment.SetEnvironmentVariable("KLDLOAD_Mesh__Keepalive", null);
        }
    }

    [Fact]
    public void Load_EmptyTftpRootDefaultsToIpxeDirectory()
    {
        var config = Load(out var errors);
        Assert.Empty(errors);
        Assert.Equal(TftpSettings.DefaultRoot, config.Tftp.Root);
    }

    [Fact]
    public void Load_ExplicitMissingTftpRoot_IsAnError()
    {
        Load(out var errors, "--Tftp:Root=/nonexistent/kldload");
        Assert.Equal("Tftp:Root", Assert.Single(errors).Key);
    }
}
