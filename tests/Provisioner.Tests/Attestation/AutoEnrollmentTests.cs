using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kldload.Tpm.Device;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// <c>Attestation:EnrollmentPolicy=Auto</c> end to end: TPMs manufactured by <c>swtpm_setup</c> with
/// EK certificates in NV; the one whose certificate chains to <c>Attestation:EkRootsDir</c> enrols
/// with no operator step, the one from another manufacturer is refused with its reason.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class AutoEnrollmentTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-auto-").FullName;
    private readonly FixedImages _images = new();
    private string _trusted = null!;
    private string _foreign = null!;
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        _trusted = SwtpmManufacturer.Manufacture(Path.Combine(_dir, "trusted"));
        _foreign = SwtpmManufacturer.Manufacture(Path.Combine(_dir, "foreign"));
        _images.Channels["stable"] = FixedImages.Image("live", "1");
        _host = await TestHost.StartAsync(Path.Combine(_dir, "data"), _images, "--Boot:DefaultChannel=stable",
            "--Attestation:EnrollmentPolicy=Auto", $"--Attestation:EkRootsDir={SwtpmManufacturer.TrustDirectory(_trusted)}");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Auto_EkCertificateChainsToTrustedRoot_AttestedWithNoOperatorStep()
    {
        using var tpm = new SwtpmNode(Path.Combine(_trusted, "state"));
        const string mac = "52:54:00:a7:00:01";
        var (quote, session) = await QuoteWithCertificateAsync(tpm, mac);
        using var _ = session;
        Assert.True(quote.IsSuccessStatusCode, await quote.Content.ReadAsStringAsync());
        var proof = Agent.Proof(session.Ek, session.Ak, await quote.Content.ReadFromJsonAsync<JsonElement>(), session.SessionId);
        var activate = await Agent.PostAsync(_host.Http, "activate", new { sessionId = session.SessionId, proof });
        Assert.True(activate.IsSuccessStatusCode, await activate.Content.ReadAsStringAsync());
        Assert.Equal("Attested", (await activate.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Auto_EkCertificateFromAnotherManufacturer_RefusedAndNodeUnchanged()
    {
        using var tpm = new SwtpmNode(Path.Combine(_foreign, "state"));
        const string mac = "52:54:00:a7:00:02";
        var (quote, session) = await QuoteWithCertificateAsync(tpm, mac);
        using var _ = session;
        Assert.Equal(HttpStatusCode.Forbidden, quote.StatusCode);
        var problem = await quote.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("bad-ek-certificate", problem.GetProperty("reason").GetString());
        var node = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
        Assert.Equal("Discovered", node.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, node.GetProperty("ekFingerprint").ValueKind);
    }

    private async Task<(HttpResponseMessage Quote, AgentSession Session)> QuoteWithCertificateAsync(SwtpmNode tpm, string mac)
    {
        var session = await Agent.BeginAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        body["eventLog"] = Convert.ToBase64String(EventLogs.EmptySha256());
        body["ekCertificate"] = Convert.ToBase64String(EndorsementKey.ReadCertificate(t, EkKind.RsaL1) ?? throw new InvalidOperationException("no EK certificate in NV"));
        return (await Agent.PostAsync(_host.Http, "quote", body), session);
    }
}
