using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// Auto enrolment with an EK certificate issued by an intermediate the node sends itself
/// (<c>ekCertificateChain</c>, from its TPM's chain indices): only the root is in
/// <c>Attestation:EkRootsDir</c>, the intermediate helps build the path and is trusted only through it.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class EkCertificateChainTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-ekchain-").FullName;
    private readonly FixedImages _images = new();
    private readonly RSA _rootKey = RSA.Create(2048);
    private readonly RSA _intermediateKey = RSA.Create(2048);
    private X509Certificate2 _root = null!;
    private X509Certificate2 _intermediate = null!;
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        var now = DateTimeOffset.UtcNow;
        var rootRequest = new CertificateRequest("CN=kldload test EK root", _rootKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        _root = rootRequest.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
        var intermediateRequest = new CertificateRequest("CN=kldload test EK intermediate", _intermediateKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var issued = intermediateRequest.Create(_root, now.AddDays(-1), now.AddMonths(6), [1, 2, 3, 4]);
        _intermediate = issued.CopyWithPrivateKey(_intermediateKey);

        var roots = Directory.CreateDirectory(Path.Combine(_dir, "roots")).FullName;
        await File.WriteAllTextAsync(Path.Combine(roots, "root.pem"), _root.ExportCertificatePem());
        _images.Channels["stable"] = FixedImages.Image("live", "1");
        _host = await TestHost.StartAsync(Path.Combine(_dir, "data"), _images, "--Boot:DefaultChannel=stable",
            "--Attestation:EnrollmentPolicy=Auto", $"--Attestation:EkRootsDir={roots}");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _root.Dispose();
        _intermediate.Dispose();
        _rootKey.Dispose();
        _intermediateKey.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Auto_EkCertificateFromPresentedIntermediate_RefusedWithoutChainAttestedWithIt()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:c4:00:01";

        var (withoutChain, _) = await QuoteAsync(tpm, mac, sendChain: false);
        Assert.Equal(HttpStatusCode.Forbidden, withoutChain.StatusCode);
        Assert.Equal("bad-ek-certificate", (await withoutChain.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());

        var (withChain, activate) = await QuoteAsync(tpm, mac, sendChain: true);
        Assert.True(withChain.IsSuccessStatusCode, await withChain.Content.ReadAsStringAsync());
        Assert.NotNull(activate);
        Assert.True(activate.IsSuccessStatusCode, await activate.Content.ReadAsStringAsync());
        Assert.Equal("Attested", (await activate.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
    }

    private async Task<(HttpResponseMessage Quote, HttpResponseMessage? Activate)> QuoteAsync(SwtpmNode tpm, string mac, bool sendChain)
    {
        using var session = await Agent.BeginAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        var (t, ek, ak, sessionId, nonce) = session;

        // The EK certificate the intermediate issues for this TPM's EK.
        using var ekKey = ek.Public.CreateRsa();
        var request = new CertificateRequest("CN=kldload test EK", ekKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment, true));
        using var ekCertificate = request.Create(_intermediate, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddMonths(3), [9, 8, 7]);

        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        body["eventLog"] = Convert.ToBase64String(EventLogs.EmptySha256());
        body["ekCertificate"] = Convert.ToBase64String(ekCertificate.RawData);
        if (sendChain)
        {
            body["ekCertificateChain"] = new[] { Convert.ToBase64String(_intermediate.RawData) };
        }

        var q = await Agent.PostAsync(_host.Http, "quote", body);
        if (!q.IsSuccessStatusCode)
        {
            return (q, null);
        }

        var proof = Agent.Proof(ek, ak, await q.Content.ReadFromJsonAsync<JsonElement>(), sessionId);
        return (q, await Agent.PostAsync(_host.Http, "activate", new { sessionId, proof }));
    }
}
