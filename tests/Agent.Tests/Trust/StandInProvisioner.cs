using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Kldload.MeshCA.Authority;
using Kldload.Testing.Web;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kldload.Agent.Tests.Trust;

/// <summary>
/// A provisioner on 127.0.0.1 (Kestrel, a random port) speaking the attestation wire contract with the
/// verifier side of Kldload.Tpm: it checks the quote over SHA-256(nonce || WireGuard key), the EK
/// certificate's key, makes the credential, checks the proof, and answers with the node certificate,
/// caBundle and signed peer bundle of <see cref="Mesh"/>. Switching <see cref="Mesh"/> or
/// <see cref="BundleSigner"/> between boots plays the attacker of issue 13's attack 7.
/// </summary>
internal sealed class StandInProvisioner : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, Session> _sessions = [];

    private sealed class Session
    {
        public required byte[] Nonce { get; init; }

        public byte[]? Secret { get; set; }

        public byte[]? WireGuardKey { get; set; }
    }

    private StandInProvisioner(WebApplication app) => _app = app;

    /// <summary>The CA answering activations.</summary>
    public required TestMesh Mesh { get; set; }

    /// <summary>Signs the peer bundle instead of <see cref="Mesh"/>'s CA when set.</summary>
    public MeshCertificateAuthority? BundleSigner { get; set; }

    /// <summary>The challenge's <c>keyEpoch</c>; null leaves the field out (an older server).</summary>
    public uint? KeyEpoch { get; set; }

    public string NodeId { get; set; } = "node-e2e";

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>What the last quote carried.</summary>
    public TpmtPublic? LastEk { get; private set; }

    public byte[]? LastEkCertificate { get; private set; }

    public byte[]? LastWireGuardKey { get; private set; }

    public int Activations { get; private set; }

    public static async Task<StandInProvisioner> StartAsync(TestMesh mesh)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var p = new StandInProvisioner(app) { Mesh = mesh };
        app.MapPost("/api/v1/attest/challenge", p.ChallengeAsync);
        app.MapPost("/api/v1/attest/quote", p.QuoteAsync);
        app.MapPost("/api/v1/attest/activate", p.ActivateAsync);
        await app.StartAsync();
        p.BaseAddress = new Uri(ListenAddress.Of(app) + "/");
        return p;
    }

    private async Task<IResult> ChallengeAsync(HttpRequest request)
    {
        using var body = await JsonDocument.ParseAsync(request.Body);
        Assert.False(string.IsNullOrEmpty(body.RootElement.GetProperty("bootToken").GetString()));
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var nonce = RandomNumberGenerator.GetBytes(32);
        lock (_sessions)
        {
            _sessions[id] = new Session { Nonce = nonce };
        }

        var answer = new Dictionary<string, object?>
        {
            ["sessionId"] = id,
            ["nonce"] = Convert.ToBase64String(nonce),
            ["pcrSelection"] = new Dictionary<string, int[]> { ["sha256"] = [0, 1, 2, 3, 4, 5, 6, 7] },
        };
        if (KeyEpoch is { } epoch)
        {
            answer["keyEpoch"] = epoch;
        }

        return Results.Json(answer);
    }

    private async Task<IResult> QuoteAsync(HttpRequest request)
    {
        using var body = await JsonDocument.ParseAsync(request.Body);
        var r = body.RootElement;
        var session = _sessions[r.GetProperty("sessionId").GetString()!];
        var ek = TpmMarshal.Read<Tpm2bPublic>(Convert.FromBase64String(r.GetProperty("ekPublic").GetString()!)).Public;
        var ak = TpmMarshal.Read<Tpm2bPublic>(Convert.FromBase64String(r.GetProperty("akPublic").GetString()!)).Public;
        var wg = Convert.FromBase64String(r.GetProperty("wireguardPublicKey").GetString()!);
        var pcrs = r.GetProperty("pcrs").GetProperty("sha256").EnumerateObject()
            .ToDictionary(p => (TpmAlgId.Sha256, int.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture)), p => Convert.FromHexString(p.Value.GetString()!));
        AkPolicy.Validate(ak);
        QuoteVerifier.Verify(ak, Convert.FromBase64String(r.GetProperty("quote").GetString()!),
            TpmMarshal.Read<TpmtSignature>(Convert.FromBase64String(r.GetProperty("signature").GetString()!)),
            SHA256.HashData([.. session.Nonce, .. wg]), TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 1, 2, 3, 4, 5, 6, 7), pcrs);
        LastEkCertificate = r.TryGetProperty("ekCertificate", out var c) ? Convert.FromBase64String(c.GetString()!) : null;
        if (LastEkCertificate is not null)
        {
            using var cert = X509CertificateLoader.LoadCertificate(LastEkCertificate);
            Assert.True(EkCertificateValidator.KeyMatches(cert, ek), "the EK certificate the agent sent is not for the EK it sent");
        }

        LastEk = ek;
        LastWireGuardKey = wg;
        session.WireGuardKey = wg;
        session.Secret = RandomNumberGenerator.GetBytes(32);
        var made = CredentialMaker.Make(ek, ak.Name(), session.Secret);
        return Results.Json(new Dictionary<string, string>
        {
            ["credentialBlob"] = Convert.ToBase64String(TpmMarshal.ToBytes(made.CredentialBlob)),
            ["encryptedSecret"] = Convert.ToBase64String(TpmMarshal.ToBytes(made.Secret)),
        });
    }

    private async Task<IResult> ActivateAsync(HttpRequest request)
    {
        using var body = await JsonDocument.ParseAsync(request.Body);
        var id = body.RootElement.GetProperty("sessionId").GetString()!;
        var session = _sessions[id];
        var expected = HMACSHA256.HashData(session.Secret!, Encoding.UTF8.GetBytes(id));
        if (!CryptographicOperations.FixedTimeEquals(expected, Convert.FromBase64String(body.RootElement.GetProperty("proof").GetString()!)))
        {
            return Results.Problem(statusCode: 403, title: "proof-wrong");
        }

        Activations++;
        return Results.Json(Mesh.Answer(NodeId, session.WireGuardKey!, KeyEpoch ?? 0, BundleSigner));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
