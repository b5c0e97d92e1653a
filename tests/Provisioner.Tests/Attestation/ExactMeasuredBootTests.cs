using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kldload.Provisioner.Attestation;
using Kldload.Provisioner.Boot;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// Attack 5 of the attestation issue and the rules against it: PCR 4 must end with the kernel kldload
/// served, PCR 9 must carry the command line (and initrd) it served, and firmware PCRs 0, 2 and 7 stay
/// as first attested. A swtpm is extended with tpm2_pcrextend exactly as the synthetic log says.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class ExactMeasuredBootTests : IAsyncDisposable
{
    private const uint InitrdTag = 0x8F3B22EC;
    private const uint LoadOptionsTag = 0x8F3B22ED;
    private static readonly byte[] Loader = EventLogs.ServedLoader();
    private static readonly byte[] Kernel = SHA256.HashData("vmlinuz"u8);
    private static readonly byte[] Foreign = SHA256.HashData("another kernel"u8);

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-exact-").FullName;
    private TestHost? _host;

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private async Task<TestHost> StartAsync(params string[] extra)
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1") with { KernelAuthenticodeDigest = Convert.ToHexStringLower(Kernel) };
        _host = await TestHost.StartAsync(_dir, images, ["--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab", .. extra]);
        return _host;
    }

    private static void Extend(SwtpmNode tpm, uint pcr, byte[] digest)
    {
        var psi = new ProcessStartInfo("tpm2_pcrextend", $"{pcr}:sha256={Convert.ToHexStringLower(digest)}") { RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["TPM2TOOLS_TCTI"] = tpm.Tcti;
        using var p = Process.Start(psi)!;
        Assert.True(p.WaitForExit(30_000) && p.ExitCode == 0, p.StandardError.ReadToEnd());
    }

    /// <summary>
    /// Boots (script), lets <paramref name="events"/> choose the log from the served script, extends the
    /// TPM as the log says, and attests up to activate. Returns the activate (or refused quote) response.
    /// </summary>
    private async Task<HttpResponseMessage> AttestAsync(SwtpmNode tpm, string mac, Func<string, (uint Pcr, uint Type, byte[] Digest, byte[] Data)[]> events, bool extend = true)
    {
        var host = _host!;
        var script = await host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative));
        var token = script.Split("kldload.token=")[1].Split([' ', '\n'])[0];
        var log = events(script);
        foreach (var e in log.Where(_ => extend))
        {
            Extend(tpm, e.Pcr, e.Digest);
        }

        using var session = await Agent.BeginAsync(host.Http, tpm, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        body["eventLog"] = Convert.ToBase64String(EventLogs.With(log));
        var q = await Agent.PostAsync(host.Http, "quote", body);
        if (!q.IsSuccessStatusCode)
        {
            return q;
        }

        var proof = Agent.Proof(ek, ak, await q.Content.ReadFromJsonAsync<JsonElement>(), sessionId);
        return await Agent.PostAsync(host.Http, "activate", new { sessionId, proof });
    }

    private static byte[] CommandLineDigest(string script) =>
        Convert.FromHexString(EvidenceAppraisal.LoadOptionsDigest(BootTokens.LoadOptionsOf(script)!));

    private async Task<JsonElement> NodeAsync(string mac) =>
        await _host!.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));

    private async Task AssertQuarantinedAsync(HttpResponseMessage r, string reason, string mac)
    {
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal(reason, (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());
        var node = await NodeAsync(mac);
        Assert.Equal("Quarantined", node.GetProperty("state").GetString());
        Assert.StartsWith(reason, node.GetProperty("stateReason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void LoadOptionsDigest_RealOvmfBootOfDebianKernel_MatchesTheStubsPcr9Event()
    {
        // tests/Tpm.Tests/TestData/ovmf: the UEFI shell ran startup.nsh's line, and the Debian 6.1 EFI
        // stub extended PCR 9 with this digest under the LOADED_IMAGE::LoadOptions tag.
        Assert.Equal("cd3efc99899c1a9541d31189c9e79844969210c863c1c23c64f480a18ae9a6a0",
            EvidenceAppraisal.LoadOptionsDigest("vmlinuz.efi initrd=\\initrd.gz console=ttyS0 quiet panic=-1"));
    }

    [Fact]
    public void LoadOptionsOf_IpxeKernelLine_ImageNameThenSingleSpacedArguments()
    {
        Assert.Equal("abc initrd=initrd quiet kldload.token=T",
            BootTokens.LoadOptionsOf("#!ipxe\nkernel http://s:8080/images/abc initrd=initrd  quiet kldload.token=T\ninitrd x\nboot\n"));
        Assert.Equal("k x=1", BootTokens.LoadOptionsOf("kernel --name k http://s/images/abc?x=1 x=1\n"));
        Assert.Null(BootTokens.LoadOptionsOf("#!ipxe\necho no kernel\n"));
    }

    [Fact]
    public async Task Pcr4_ServedKernelLastAndCommandLineInPcr9_AttestedAndRecordedAsMeasured()
    {
        await StartAsync();
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:e5:00:01";
        // The shape of a real OVMF PXE boot's PCR 4: the loader, then the kernel twice (iPXE loads it
        // once to probe it and again to start it; firmware measures both loads).
        var r = await AttestAsync(tpm, mac, script => [EventLogs.Application(Loader), EventLogs.Application(Kernel), EventLogs.Application(Kernel), EventLogs.StubTag(LoadOptionsTag, "LOADED_IMAGE::LoadOptions", CommandLineDigest(script))]);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        var node = await NodeAsync(mac);
        Assert.Equal("Attested", node.GetProperty("state").GetString());
        Assert.True(node.GetProperty("kernelMeasured").GetBoolean());
        Assert.True(node.GetProperty("commandLineMeasured").GetBoolean());
        Assert.False(node.GetProperty("initrdMeasured").GetBoolean());
        Assert.Contains("LoadFile2", node.GetProperty("initrdNote").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pcr4_ServedKernelAfterForeignKernel_WrongKernelMeasured()
    {
        await StartAsync();
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:e5:00:02";
        var r = await AttestAsync(tpm, mac, _ => [EventLogs.Application(Loader), EventLogs.Application(Kernel), EventLogs.Application(Foreign)]);
        await AssertQuarantinedAsync(r, "wrong-kernel-measured", mac);
    }

    [Fact]
    public async Task Pcr4_KernelStartedByALoaderKldloadDoesNotServe_WrongLoaderMeasured()
    {
        await StartAsync();
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:e5:00:08";
        var r = await AttestAsync(tpm, mac, _ => [EventLogs.Application(SHA256.HashData("a loader from elsewhere"u8)), EventLogs.Application(Kernel), EventLogs.Application(Kernel)]);
        await AssertQuarantinedAsync(r, "wrong-loader-measured", mac);
    }

    [Fact]
    public async Task Pcr4_SomethingExtendedAfterTheKernel_WrongKernelMeasured()
    {
        await StartAsync();
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:e5:00:03";
        var r = await AttestAsync(tpm, mac, _ => [EventLogs.Application(Loader), EventLogs.Application(Kernel), (4u, 0x80000007u, SHA256.HashData("late"u8), Encoding.ASCII.GetBytes("late"))]);
        await AssertQuarantinedAsync(r, "wrong-kernel-measured", mac);
    }

    [Fact]
    public async Task Pcr9_AnotherCommandLine_WrongCmdlineMeasured()
    {
        await StartAsync();
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:e5:00:04";
        var r = await AttestAsync(tpm, mac, script => [EventLogs.Application(Loader), EventLogs.Application(Kernel),
            EventLogs.StubTag(LoadOptionsTag, "LOADED_IMAGE::LoadOptions", Convert.FromHexString(EvidenceAppraisal.LoadOptionsDigest(BootTokens.LoadOptionsOf(script) + " init=/bin/sh")))]);
        await AssertQuarantinedAsync(r, "wrong-cmdline-measured", mac);
    }

    [Fact]
    public async Task Pcr9_InitrdTag_ServedInitrdMeasuredAnotherRefused()
    {
        await StartAsync();
        var served = Convert.FromHexString(FixedImages.Image("live", "1").InitrdDigest);
        using (var tpm = new SwtpmNode())
        {
            const string mac = "52:54:00:e5:00:05";
            var r = await AttestAsync(tpm, mac, script => [EventLogs.Application(Loader), EventLogs.Application(Kernel), EventLogs.StubTag(InitrdTag, "Linux initrd", served)]);
            Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
            Assert.True((await NodeAsync(mac)).GetProperty("initrdMeasured").GetBoolean());
        }

        using (var tpm = new SwtpmNode())
        {
            const string mac = "52:54:00:e5:00:06";
            var r = await AttestAsync(tpm, mac, _ => [EventLogs.Application(Loader), EventLogs.Application(Kernel), EventLogs.StubTag(InitrdTag, "Linux initrd", SHA256.HashData("other initrd"u8))]);
            await AssertQuarantinedAsync(r, "wrong-initrd-measured", mac);
        }
    }

    [Fact]
    public async Task RequireMeasuredKernel_KernelButNoCommandLineTag_KernelNotMeasured()
    {
        await StartAsync("--Attestation:RequireMeasuredKernel=true");
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:e5:00:07";
        var r = await AttestAsync(tpm, mac, _ => [EventLogs.Application(Loader), EventLogs.Application(Kernel)]);
        await AssertQuarantinedAsync(r, "kernel-not-measured", mac);
    }

    [Theory]
    [InlineData("Approve")]
    [InlineData("Quarantine")]
    [InlineData("Accept")]
    public async Task FirmwareDrift_Pcr0ChangesBetweenBoots_EachModeAsSpecified(string mode)
    {
        await StartAsync($"--Attestation:FirmwareDrift={mode}");
        using var tpm = new SwtpmNode();
        var mac = $"52:54:00:e5:01:{mode.Length:x2}";
        var first = await AttestAsync(tpm, mac, _ => []);
        Assert.True(first.IsSuccessStatusCode, await first.Content.ReadAsStringAsync());
        var pinned = (await NodeAsync(mac)).GetProperty("pinnedPcrs").GetProperty("0").GetString();
        Assert.Equal(new string('0', 64), pinned);

        // The same TPM boots again with other firmware: PCR 0 was extended before the quote.
        var crtm = SHA256.HashData("firmware update"u8);
        var second = await AttestAsync(tpm, mac, _ => [(0u, 0x00000008u, crtm, Encoding.ASCII.GetBytes("CRTM version 2"))]);
        var node = await NodeAsync(mac);
        Assert.True(node.GetProperty("state").GetString() != "Attested" || mode == "Accept", await second.Content.ReadAsStringAsync());
        var events = await _host!.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}/events", UriKind.Relative));
        Assert.Contains(events.EnumerateArray(), e => e.GetProperty("reason").GetString() == "firmware-drift" || e.GetProperty("message").GetString()!.Contains("firmware PCRs changed", StringComparison.Ordinal));
        switch (mode)
        {
            case "Approve":
                Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
                Assert.Equal("Enrolling", node.GetProperty("state").GetString());
                Assert.Contains("PCR 0", node.GetProperty("stateReason").GetString(), StringComparison.Ordinal);
                Assert.Equal(HttpStatusCode.OK, (await _host.Admin.PostAsync(new Uri($"/api/v1/nodes/{mac}/approve", UriKind.Relative), null)).StatusCode);
                var third = await AttestAsync(tpm, mac, _ => [(0u, 0x00000008u, crtm, Encoding.ASCII.GetBytes("CRTM version 2"))], extend: false);
                Assert.True(third.IsSuccessStatusCode, await third.Content.ReadAsStringAsync());
                Assert.Equal("Attested", (await NodeAsync(mac)).GetProperty("state").GetString());
                Assert.NotEqual(pinned, (await NodeAsync(mac)).GetProperty("pinnedPcrs").GetProperty("0").GetString());
                break;
            case "Quarantine":
                await AssertQuarantinedAsync(second, "firmware-drift", mac);
                break;
            default:
                Assert.True(second.IsSuccessStatusCode, await second.Content.ReadAsStringAsync());
                Assert.Equal("Attested", node.GetProperty("state").GetString());
                Assert.NotEqual(pinned, node.GetProperty("pinnedPcrs").GetProperty("0").GetString());
                break;
        }
    }
}
