using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Tests.Hosting;

public sealed class SettingsTests : IDisposable
{
    private readonly SettingsUnderTest _settings = new();

    public void Dispose() => _settings.Dispose();

    private KldloadConfiguration Load(out IReadOnlyList<SettingError> errors, params string[] overrides) => _settings.Load(out errors, overrides);

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
        Assert.Equal(Path.Combine(_settings.DataDir, "admin.token"), config.Auth.AdminTokenFile);
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
    public void Load_BootLoaderAndSignedLoaderPaths_DefaultsAndEveryErrorAtOnce()
    {
        var config = Load(out var none);
        Assert.Empty(none);
        Assert.Equal(Kldload.Provisioner.Settings.BootLoaderKind.Ipxe, config.Boot.Loader);
        Assert.Equal("/usr/lib/shim/shimx64.efi.signed", config.Boot.Grub.ShimX64);
        Assert.Equal("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", config.Boot.Grub.GrubX64);
        Assert.False(config.Attestation.RequireSecureBoot);

        Assert.Equal(Kldload.Provisioner.Settings.BootLoaderKind.Grub, Load(out _, "--Boot:Loader=grub", "--Attestation:RequireSecureBoot=true").Boot.Loader);
        Load(out var errors, "--Boot:Loader=pxelinux", "--Boot:Grub:ShimX64=shimx64.efi.signed");
        Assert.Equal(
            ["Boot:Loader = 'pxelinux': allowed: Ipxe, Grub", "Boot:Grub:ShimX64 = 'shimx64.efi.signed': allowed: an absolute path to a signed EFI loader file"],
            errors.Select(e => e.ToString()).Order().Reverse().ToArray());
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

    [Theory]
    [InlineData("--Dhcpp:Mode=Full", "Dhcpp:Mode", "Dhcp")]
    [InlineData("--Dhcq6:Mode=Full", "Dhcq6:Mode", "Dhcp6")]
    [InlineData("--Foo:Bar=1", "Foo:Bar", null)]
    public void Load_UnknownSection_IsReportedWithTheNearestKnownOne(string argument, string key, string? nearest)
    {
        Load(out var errors, argument);
        var e = Assert.Single(errors);
        Assert.Equal(key, e.Key);
        Assert.Contains("unknown section", e.Problem, StringComparison.Ordinal);
        if (nearest is not null)
        {
            Assert.Contains($"did you mean '{nearest}'", e.Problem, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Load_UnknownSectionInAppSettings_IsReported()
    {
        var file = Path.Combine(Path.GetTempPath(), $"kldload-appsettings-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, """{ "Tfpt": { "Endpoint": "0.0.0.0:6969" }, "Logging": { "LogLevel": { "Default": "Information" } } }""");
        try
        {
            var root = KldloadConfiguration.BuildRoot([$"--Kldload:DataDir={_settings.DataDir}"], file);
            KldloadConfiguration.Load(root, out var errors);
            var e = Assert.Single(errors);
            Assert.Equal("Tfpt:Endpoint", e.Key);
            Assert.Contains("did you mean 'Tftp'", e.Problem, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Load_HostAndLoggerSections_AreAllowed()
    {
        Load(out var errors, "--Logging:LogLevel:Default=Warning", "--Serilog:MinimumLevel=Debug", "--Kestrel:Limits:MaxRequestBodySize=100", "--AllowedHosts=*", "--environment=Production");
        Assert.Empty(errors);
    }

    [Theory]
    [InlineData("Dhcp", "dhcp", 0)]
    [InlineData("Dhcpp", "Dhcp", 1)]
    [InlineData("Tfpt", "Tftp", 2)]
    [InlineData("", "Mesh", 4)]
    public void EditDistance_CountsSingleLetterEdits(string a, string b, int expected) =>
        Assert.Equal(expected, SettingsReader.EditDistance(a, b));

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
        Assert.Equal("525400AABBCC", Assert.Single(config.Dhcp.Reservations).Mac!.ToString());
    }

    private static readonly string[] FullModeSubnet =
    [
        "--Dhcp:Mode=Full", "--Dhcp:Interface=lo", "--Dhcp:Subnets:0:Network=10.9.0.0/24",
        "--Dhcp:Subnets:0:PoolStart=10.9.0.10", "--Dhcp:Subnets:0:PoolEnd=10.9.0.20",
    ];

    [Fact]
    public void Load_ReservationsOfEveryKindAndDeclineHoldTime_Bind()
    {
        var config = Load(
            out var errors,
            [
                .. FullModeSubnet,
                "--Dhcp:DeclineHoldTime=00:02:00",
                "--Dhcp:Reservations:0:ClientId=01:52:54:00:aa:bb:cc", "--Dhcp:Reservations:0:Address=10.9.0.5",
                "--Dhcp:Reservations:1:CircuitId=rack12/slot7", "--Dhcp:Reservations:1:Address=10.9.0.6", "--Dhcp:Reservations:1:Hostname=r12s7",
                "--Dhcp:Reservations:2:CircuitId=hex:0004000a0001", "--Dhcp:Reservations:2:RemoteIdPattern=sw-rack13*", "--Dhcp:Reservations:2:Address=10.9.0.7",
            ]);
        Assert.Empty(errors);
        Assert.Equal(TimeSpan.FromMinutes(2), config.Dhcp.DeclineHoldTime);
        var r = config.Dhcp.Reservations;
        Assert.Equal(3, r.Count);
        Assert.Equal([1, 0x52, 0x54, 0, 0xaa, 0xbb, 0xcc], r[0].ClientId);
        Assert.True(r[1].CircuitId!.Matches("rack12/slot7"u8.ToArray()));
        Assert.False(r[1].CircuitId!.Matches("rack12/slot70"u8.ToArray()));
        Assert.Equal("r12s7", r[1].Hostname);
        Assert.Equal([0, 4, 0, 10, 0, 1], r[2].CircuitId!.Exact);
        Assert.True(r[2].RemoteId!.IsPattern);
        Assert.True(r[2].RemoteId!.Matches("sw-rack13-b"u8.ToArray()));
    }

    [Fact]
    public void Load_DefaultDeclineHoldTime_IsTenMinutes() =>
        Assert.Equal(TimeSpan.FromMinutes(10), Load(out _).Dhcp.DeclineHoldTime);

    [Fact]
    public void Load_BadReservations_EveryProblemListed()
    {
        Load(
            out var errors,
            [
                .. FullModeSubnet,
                "--Dhcp:DeclineHoldTime=00:00:00",
                "--Dhcp:Reservations:0:Address=10.9.0.5",                                                           // no key
                "--Dhcp:Reservations:1:Mac=52:54:00:aa:bb:cc", "--Dhcp:Reservations:1:CircuitId=x", "--Dhcp:Reservations:1:Address=10.9.0.6", // two kinds
                "--Dhcp:Reservations:2:CircuitId=a", "--Dhcp:Reservations:2:CircuitIdPattern=a*", "--Dhcp:Reservations:2:Address=10.9.0.7",  // exact and pattern
                "--Dhcp:Reservations:3:ClientId=zz", "--Dhcp:Reservations:3:Address=10.9.0.8",                      // not hex
                "--Dhcp:Reservations:4:RemoteId=hex:0", "--Dhcp:Reservations:4:Address=10.9.0.9",                    // odd hex
                "--Dhcp:Reservations:5:CircuitId=rack1", "--Dhcp:Reservations:5:Address=10.8.0.1",                   // outside the subnets
                "--Dhcp:Reservations:6:CircuitId=rack2", "--Dhcp:Reservations:6:Address=10.9.0.30",
                "--Dhcp:Reservations:7:CircuitId=rack3", "--Dhcp:Reservations:7:Address=10.9.0.30",                  // address taken
                "--Dhcp:Reservations:8:CircuitIdPatern=rack*", "--Dhcp:Reservations:8:Address=10.9.0.31",            // misspelt key
            ]);
        var keys = errors.Select(e => e.Key).ToList();
        Assert.Contains("Dhcp:DeclineHoldTime", keys);
        Assert.Contains("Dhcp:Reservations:0", keys);
        Assert.Contains("Dhcp:Reservations:1", keys);
        Assert.Contains("Dhcp:Reservations:2:CircuitIdPattern", keys);
        Assert.Contains("Dhcp:Reservations:3:ClientId", keys);
        Assert.Contains("Dhcp:Reservations:4:RemoteId", keys);
        Assert.Contains("Dhcp:Reservations:5:Address", keys);
        Assert.Contains("Dhcp:Reservations:7:Address", keys);
        Assert.Contains("Dhcp:Reservations:8:CircuitIdPatern", keys);
        Assert.DoesNotContain("Dhcp:Reservations:6:Address", keys);
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
