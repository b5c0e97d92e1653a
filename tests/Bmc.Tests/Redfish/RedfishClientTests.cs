using System.Net;
using System.Net.Sockets;
using Kldload.Bmc.Redfish;

namespace Kldload.Bmc.Tests.Redfish;

/// <summary>
/// kldload's Redfish client against a DMTF-shaped service over HTTPS with a self-signed certificate,
/// each result cross-checked with redfishtool (DMTF's client) against the same service.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class RedfishClientTests
{
    [Fact]
    public async Task PowerStateAndUuid_PinnedSelfSignedCertificate_ReadAsRedfishtoolReadsThem()
    {
        await using var service = await RedfishService.StartAsync();
        await using var client = new RedfishClient(Redfishtool.Options(service));

        Assert.Equal(BmcPowerState.Off, await client.GetPowerStateAsync());
        var uuid = await client.GetSystemUuidAsync();

        Assert.Equal(service.Uuid, uuid.Reported);
        Assert.Equal(service.Fingerprint, client.PresentedFingerprint);
        var system = await Redfishtool.GetSystemAsync(service);
        Assert.Equal("Off", system["PowerState"]!.GetValue<string>());
        Assert.Equal(uuid.Reported, Guid.Parse(system["UUID"]!.GetValue<string>()));
    }

    [Fact]
    public async Task PowerOnOffCycle_ResetTypesAndStateSeenByRedfishtool()
    {
        await using var service = await RedfishService.StartAsync();
        await using var client = new RedfishClient(Redfishtool.Options(service));

        await client.SetPowerAsync(BmcPowerAction.On);
        Assert.Equal("On", (await Redfishtool.GetSystemAsync(service))["PowerState"]!.GetValue<string>());
        await client.SetPowerAsync(BmcPowerAction.Cycle);
        await client.SetPowerAsync(BmcPowerAction.Off);
        Assert.Equal("Off", (await Redfishtool.GetSystemAsync(service))["PowerState"]!.GetValue<string>());
        // A cycle of a system that is off starts it.
        await client.SetPowerAsync(BmcPowerAction.Cycle);

        Assert.Equal(["On", "PowerCycle", "ForceOff", "On"], service.Resets);
        Assert.Equal(BmcPowerState.On, await client.GetPowerStateAsync());
    }

    [Fact]
    public async Task ResetByRedfishtool_ReadByClient()
    {
        await using var service = await RedfishService.StartAsync();
        await using var client = new RedfishClient(Redfishtool.Options(service));

        var (code, output) = await Redfishtool.RunAsync(service, "Systems", "-I", RedfishService.SystemId, "reset", "On");

        Assert.True(code == 0, output);
        Assert.Equal(["On"], service.Resets);
        Assert.Equal(BmcPowerState.On, await client.GetPowerStateAsync());
    }

    [Theory]
    [InlineData(false, "UEFI")]
    [InlineData(true, "UEFI")]
    public async Task OneTimeNetworkBoot_BootOverrideIsPxeOnce(bool efi, string mode)
    {
        await using var service = await RedfishService.StartAsync();
        await using var client = new RedfishClient(Redfishtool.Options(service));

        await client.SetOneTimeNetworkBootAsync(efi);

        Assert.Equal("Pxe", service.BootTarget);
        Assert.Equal("Once", service.BootEnabled);
        Assert.Equal(efi ? mode : null, service.BootMode);
        var boot = (await Redfishtool.GetSystemAsync(service))["Boot"]!;
        Assert.Equal("Pxe", boot["BootSourceOverrideTarget"]!.GetValue<string>());
        Assert.Equal("Once", boot["BootSourceOverrideEnabled"]!.GetValue<string>());
    }

    [Fact]
    public async Task WrongFingerprint_AuthenticationFailedBeforeAnyRequest()
    {
        await using var service = await RedfishService.StartAsync();
        await using var client = new RedfishClient(Redfishtool.Options(service) with { CertificateFingerprint = new string('A', 64) });

        var e = await Assert.ThrowsAsync<BmcException>(() => client.SetPowerAsync(BmcPowerAction.On));

        Assert.Equal(BmcErrorKind.AuthenticationFailed, e.Kind);
        Assert.Contains(service.Fingerprint, e.Message);
        Assert.Contains("not the pinned one", e.Message);
        Assert.Equal(0, service.Requests);
        Assert.Empty(service.Resets);
    }

    [Fact]
    public async Task NoFingerprint_SelfSignedRefusedWithTheFingerprintToPin()
    {
        await using var service = await RedfishService.StartAsync();
        await using var client = new RedfishClient(Redfishtool.Options(service) with { CertificateFingerprint = null });

        var e = await Assert.ThrowsAsync<BmcException>(() => client.GetPowerStateAsync());

        Assert.Equal(BmcErrorKind.AuthenticationFailed, e.Kind);
        Assert.Contains(service.Fingerprint, e.Message);
        Assert.Contains("--fingerprint", e.Message);
    }

    [Fact]
    public async Task FingerprintWithColons_IsAccepted()
    {
        await using var service = await RedfishService.StartAsync();
        var colons = string.Join(':', service.Fingerprint.Chunk(2).Select(c => new string(c).ToLowerInvariant()));
        await using var client = new RedfishClient(Redfishtool.Options(service) with { CertificateFingerprint = colons });

        Assert.Equal(BmcPowerState.Off, await client.GetPowerStateAsync());
    }

    [Fact]
    public async Task WrongPassword_AuthenticationFailedAndNothingChanged()
    {
        await using var service = await RedfishService.StartAsync();
        await using var client = new RedfishClient(Redfishtool.Options(service) with { Password = "nope" });

        var e = await Assert.ThrowsAsync<BmcException>(() => client.SetPowerAsync(BmcPowerAction.On));

        Assert.Equal(BmcErrorKind.AuthenticationFailed, e.Kind);
        Assert.Contains("root", e.Message);
        Assert.Empty(service.Resets);
        // redfishtool is refused the same way.
        Assert.NotEqual(0, (await Redfishtool.RunAsync(service, "-p", "nope", "Systems", "-I", RedfishService.SystemId, "get")).ExitCode);
    }

    [Fact]
    public async Task UnknownSystem_CommandRefusedWithTheServicesMessage()
    {
        await using var service = await RedfishService.StartAsync();
        await using var client = new RedfishClient(Redfishtool.Options(service) with { SystemId = "nope" });

        var e = await Assert.ThrowsAsync<BmcException>(() => client.GetPowerStateAsync());

        Assert.Equal(BmcErrorKind.CommandRefused, e.Kind);
        Assert.Contains("404", e.Message);
        Assert.Contains("was not found", e.Message);
    }

    [Fact]
    public async Task SlowService_UnreachableAfterEveryAttemptTimedOut()
    {
        await using var service = await RedfishService.StartAsync();
        service.Delay = TimeSpan.FromSeconds(30);
        await using var client = new RedfishClient(Redfishtool.Options(service) with { AttemptTimeout = TimeSpan.FromMilliseconds(300), Attempts = 2 });
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var e = await Assert.ThrowsAsync<BmcException>(() => client.GetPowerStateAsync(guard.Token));

        Assert.Equal(BmcErrorKind.Unreachable, e.Kind);
        Assert.Contains("did not answer", e.Message);
        Assert.Equal(2, service.Requests);
    }

    [Fact]
    public async Task ClosedPort_Unreachable()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        await using var client = new RedfishClient(new RedfishOptions
        {
            BaseAddress = new Uri($"https://127.0.0.1:{port}"),
            SystemId = "1",
            User = "u",
            Password = "p",
            AttemptTimeout = TimeSpan.FromMilliseconds(500),
            Attempts = 2,
        });

        var e = await Assert.ThrowsAsync<BmcException>(() => client.GetPowerStateAsync());

        Assert.Equal(BmcErrorKind.Unreachable, e.Kind);
    }
}
