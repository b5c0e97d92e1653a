using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// The evidence policy with an event log: replay against the quoted PCRs and the kernel measurement
/// against the Authenticode digest of the kernel kldload served. PCR 4 of a swtpm is extended with
/// tpm2_pcrextend exactly as the log says firmware did.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class MeasuredBootTests : IAsyncDisposable
{
    private static readonly byte[] Loader = EventLogs.ServedLoader();
    private static readonly byte[] Kernel = SHA256.HashData("vmlinuz"u8);

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-measured-").FullName;
    private TestHost? _host;

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private async Task<TestHost> StartAsync(byte[] servedKernelAuthenticode, params string[] extra)
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1") with { KernelAuthenticodeDigest = Convert.ToHexStringLower(servedKernelAuthenticode) };
        _host = await TestHost.StartAsync(_dir, images, ["--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab", .. extra]);
        return _host;
    }

    private static void Extend(SwtpmNode tpm, params byte[][] digests)
    {
        foreach (var d in digests)
        {
            var psi = new ProcessStartInfo("tpm2_pcrextend", $"4:sha256={Convert.ToHexStringLower(d)}") { RedirectStandardError = true, UseShellExecute = false };
            psi.Environment["TPM2TOOLS_TCTI"] = tpm.Tcti;
            using var p = Process.Start(psi)!;
            Assert.True(p.WaitForExit(30_000) && p.ExitCode == 0, p.StandardError.ReadToEnd());
        }
    }

    private static async Task<HttpResponseMessage> QuoteAsync(TestHost host, SwtpmNode tpm, string mac, byte[] eventLog)
    {
        var script = await host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative));
        var token = script.Split("kldload.token=")[1].Split('\n')[0].Trim();
        using var session = await Agent.BeginAsync(host.Http, tpm, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        body["eventLog"] = Convert.ToBase64String(eventLog);
        var q = await Agent.PostAsync(host.Http, "quote", body);
        if (q.IsSuccessStatusCode)
        {
            var proof = Agent.Proof(ek, ak, await q.Content.ReadFromJsonAsync<JsonElement>(), sessionId);
            return await Agent.PostAsync(host.Http, "activate", new { sessionId, proof });
        }

        return q;
    }

    private static async Task<string?> ReasonAsync(HttpResponseMessage r) =>
        (await r.Content.ReadFromJsonAsync<JsonElement>()).TryGetProperty("reason", out var reason) ? reason.GetString() : null;

    [Fact]
    public async Task EventLog_KernelMeasurementMatchesServedKernel_AttestedAndRecordedAsMeasured()
    {
        var host = await StartAsync(Kernel);
        using var tpm = new SwtpmNode();
        Extend(tpm, Loader, Kernel);
        var r = await QuoteAsync(host, tpm, "52:54:00:80:00:01", EventLogs.WithBootApplications(Loader, Kernel));
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        var node = await host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes/52:54:00:80:00:01", UriKind.Relative));
        Assert.Equal("Attested", node.GetProperty("state").GetString());
        Assert.True(node.GetProperty("kernelMeasured").GetBoolean());
    }

    [Fact]
    public async Task EventLog_AnotherKernelMeasured_WrongKernelMeasured()
    {
        var host = await StartAsync(SHA256.HashData("the kernel kldload served"u8));
        using var tpm = new SwtpmNode();
        Extend(tpm, Loader, Kernel);
        var r = await QuoteAsync(host, tpm, "52:54:00:80:00:02", EventLogs.WithBootApplications(Loader, Kernel));
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("wrong-kernel-measured", await ReasonAsync(r));
    }

    [Fact]
    public async Task EventLog_ReplayDiffersFromQuotedPcrs_PcrMismatch()
    {
        var host = await StartAsync(Kernel);
        using var tpm = new SwtpmNode();
        Extend(tpm, Loader); // the log claims a kernel measurement the TPM never saw
        var r = await QuoteAsync(host, tpm, "52:54:00:80:00:03", EventLogs.WithBootApplications(Loader, Kernel));
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("pcr-mismatch", await ReasonAsync(r));
    }

    [Fact]
    public async Task RequireMeasuredKernel_LogWithoutKernel_KernelNotMeasured()
    {
        var host = await StartAsync(Kernel, "--Attestation:RequireMeasuredKernel=true");
        using var tpm = new SwtpmNode();
        var r = await QuoteAsync(host, tpm, "52:54:00:80:00:04", EventLogs.EmptySha256());
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("kernel-not-measured", await ReasonAsync(r));
    }

    [Fact]
    public async Task EventLog_Garbage_MalformedEvidence()
    {
        var host = await StartAsync(Kernel);
        using var tpm = new SwtpmNode();
        var r = await QuoteAsync(host, tpm, "52:54:00:80:00:05", RandomNumberGenerator.GetBytes(100));
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("malformed-evidence", await ReasonAsync(r));
    }

    [Fact]
    public async Task RequireSecureBoot_LogWithoutSecureBoot_RefusedWithTheReason()
    {
        var host = await StartAsync(Kernel, "--Attestation:RequireSecureBoot=true");
        using var tpm = new SwtpmNode();
        Extend(tpm, Loader, Kernel);
        var r = await QuoteAsync(host, tpm, "52:54:00:80:00:19", EventLogs.WithBootApplications(Loader, Kernel));
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("secure-boot-off", await ReasonAsync(r));
        var node = await host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes/52:54:00:80:00:19", UriKind.Relative));
        Assert.NotEqual("Attested", node.GetProperty("state").GetString());
    }

    [Fact]
    public async Task RequireSecureBoot_OnlyInTheNodesProfile_RefusesThatNodeAndAdmitsAnother()
    {
        var host = await StartAsync(Kernel);
        var put = await host.Admin.PutAsJsonAsync(new Uri("/api/v1/profiles/secure", UriKind.Relative),
            JsonDocument.Parse("""{ "match": { "macs": ["52:54:00:80:00:1a"] }, "requireSecureBoot": true }""").RootElement);
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());

        using var strict = new SwtpmNode();
        Extend(strict, Loader, Kernel);
        var refused = await QuoteAsync(host, strict, "52:54:00:80:00:1a", EventLogs.WithBootApplications(Loader, Kernel));
        Assert.Equal("secure-boot-off", await ReasonAsync(refused));

        using var other = new SwtpmNode();
        Extend(other, Loader, Kernel);
        var admitted = await QuoteAsync(host, other, "52:54:00:80:00:1b", EventLogs.WithBootApplications(Loader, Kernel));
        Assert.True(admitted.IsSuccessStatusCode, await admitted.Content.ReadAsStringAsync());
        var node = await host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes/52:54:00:80:00:1b", UriKind.Relative));
        Assert.Equal("Attested", node.GetProperty("state").GetString());
        Assert.False(node.GetProperty("secureBoot").ValueKind == JsonValueKind.True);
    }
}
