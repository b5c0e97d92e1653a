using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kldload.MeshCA;
using Kldload.Tpm.Device;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// A node's TPM for the attestation tests: a real swtpm (Debian's) on loopback ports with its state
/// in a temp directory, stopped by PID. <see cref="Agent"/> plays the node agent's part of the wire
/// contract with Kldload.Tpm, step by step, so tests can break any step on purpose.
/// </summary>
internal sealed class SwtpmNode : IDisposable
{
    private readonly SwtpmProcess _swtpm;

    public SwtpmNode(string? stateDir = null) =>
        _swtpm = stateDir is null ? SwtpmProcess.StartEmpty() : SwtpmProcess.StartOn(stateDir);

    public string StateDir => _swtpm.StateDir;

    public int DataPort => _swtpm.DataPort;

    public int ControlPort => _swtpm.ControlPort;

    public string Tcti => _swtpm.Tcti;

    public Tpm2 Connect() => _swtpm.Connect();

    /// <summary>The node's WireGuard key pair, derived from this TPM as the agent does it.</summary>
    public (byte[] Private, byte[] Public) WireGuardKey(uint epoch = 0)
    {
        using var tpm = Connect();
        using var hmac = TpmHmacKey.Open(tpm);
        var priv = WireGuardKeyDerivation.DerivePrivateKey(new HmacAdapter(hmac), epoch);
        return (priv, Kldload.MeshCA.WireGuardKey.PublicKeyOf(priv));
    }

    public void Dispose() => _swtpm.Dispose();

    private sealed class HmacAdapter(TpmHmacKey key) : ITpmHmac
    {
        public byte[] Hmac(ReadOnlySpan<byte> message) => key.Hmac(message);
    }
}

/// <summary>What the agent sends and receives, kept so tests can tamper with any part.</summary>
internal sealed class AgentRun
{
    public required string SessionId { get; init; }

    public required byte[] Nonce { get; init; }

    public required Dictionary<string, object?> QuoteBody { get; init; }

    public required byte[] WireGuardPublicKey { get; init; }
}

/// <summary>An attestation in progress: the node's TPM connection, EK and AK, and the open session.</summary>
internal sealed class AgentSession : IDisposable
{
    public required Tpm2 Tpm { get; init; }

    public required EndorsementKey Ek { get; init; }

    public required AttestationKey Ak { get; init; }

    public required string SessionId { get; init; }

    public required byte[] Nonce { get; init; }

    public void Deconstruct(out Tpm2 tpm, out EndorsementKey ek, out AttestationKey ak, out string sessionId, out byte[] nonce) =>
        (tpm, ek, ak, sessionId, nonce) = (Tpm, Ek, Ak, SessionId, Nonce);

    public void Dispose()
    {
        Ak.Dispose();
        Ek.Dispose();
        Tpm.Dispose();
    }
}

/// <summary>The agent side of the wire contract, over HTTP, against a swtpm.</summary>
internal static class Agent
{
    /// <summary>Connects to the node's TPM, creates the EK (RSA L-1) and an RSA AK, and asks for a challenge.</summary>
    public static async Task<AgentSession> BeginAsync(HttpClient http, SwtpmNode node, string token, string mac)
    {
        var tpm = node.Connect();
        var ek = EndorsementKey.Create(tpm, EkKind.RsaL1);
        var ak = AttestationKey.Create(tpm, ek, TpmTemplates.AkRsa2048());
        var (sessionId, nonce) = await ChallengeAsync(http, token, mac);
        return new AgentSession { Tpm = tpm, Ek = ek, Ak = ak, SessionId = sessionId, Nonce = nonce };
    }

    public static readonly int[] Pcrs = [0, 1, 2, 3, 4, 5, 6, 7, 9];

    /// <summary>Boots as UEFI iPXE would (<c>/boot.ipxe</c> with the MAC) and returns the boot token from the script.</summary>
    public static async Task<string> BootTokenAsync(HttpClient http, string mac)
    {
        var script = await http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&arch=x86_64", UriKind.Relative));
        return script.Split("kldload.token=")[1].Split('\n')[0].Split(' ')[0].Trim();
    }

    public static async Task<(string SessionId, byte[] Nonce)> ChallengeAsync(HttpClient http, string token, string mac)
    {
        var r = await http.PostAsJsonAsync(new Uri("/api/v1/attest/challenge", UriKind.Relative), new { bootToken = token, mac });
        Assert.True(r.IsSuccessStatusCode, $"challenge: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        var json = await r.Content.ReadFromJsonAsync<JsonElement>();
        return (json.GetProperty("sessionId").GetString()!, Convert.FromBase64String(json.GetProperty("nonce").GetString()!));
    }

    /// <summary>Builds the quote request with the node's TPM: EK, AK, quote over SHA-256(nonce || wg key), PCR values.</summary>
    public static Dictionary<string, object?> BuildQuote(Tpm2 tpm, EndorsementKey ek, AttestationKey ak, string sessionId, byte[] nonce, byte[] wgPublic, byte[]? qualifyingOverride = null)
    {
        var selection = TpmlPcrSelection.Create(TpmAlgId.Sha256, Pcrs);
        var quote = ak.Quote(qualifyingOverride ?? SHA256.HashData([.. nonce, .. wgPublic]), selection);
        var values = tpm.PcrRead(selection);
        return new Dictionary<string, object?>
        {
            ["sessionId"] = sessionId,
            ["ekPublic"] = Convert.ToBase64String(ek.Public.ToSizedBytes()),
            ["akPublic"] = Convert.ToBase64String(ak.Public.ToSizedBytes()),
            ["quote"] = Convert.ToBase64String(quote.AttestBytes),
            ["signature"] = Convert.ToBase64String(TpmMarshal.ToBytes(quote.Signature)),
            ["pcrs"] = new Dictionary<string, Dictionary<string, string>>
            {
                ["sha256"] = values.ToDictionary(kv => kv.Key.Pcr.ToString(System.Globalization.CultureInfo.InvariantCulture), kv => Convert.ToHexStringLower(kv.Value)),
            },
            ["wireguardPublicKey"] = Convert.ToBase64String(wgPublic),
        };
    }

    public static async Task<HttpResponseMessage> PostAsync(HttpClient http, string step, object body) =>
        await http.PostAsJsonAsync(new Uri($"/api/v1/attest/{step}", UriKind.Relative), body);

    /// <summary>ActivateCredential on the TPM and the proof HMAC(secret, session id).</summary>
    public static string Proof(EndorsementKey ek, AttestationKey ak, JsonElement credential, string sessionId)
    {
        var blob = TpmMarshal.Read<Tpm2bIdObject>(Convert.FromBase64String(credential.GetProperty("credentialBlob").GetString()!));
        var secret = TpmMarshal.Read<Tpm2bEncryptedSecret>(Convert.FromBase64String(credential.GetProperty("encryptedSecret").GetString()!));
        var recovered = ak.ActivateCredential(ek, blob, secret);
        return Convert.ToBase64String(HMACSHA256.HashData(recovered, Encoding.UTF8.GetBytes(sessionId)));
    }

    /// <summary>
    /// Challenge, quote with an event log of no measurements (swtpm's PCRs are all zero) and activate;
    /// returns the session and the activate response (ready is the caller's).
    /// </summary>
    public static async Task<(string SessionId, JsonElement Activation)> AttestWithEmptyLogAsync(HttpClient http, SwtpmNode node, string token, string mac)
    {
        using var session = await BeginAsync(http, node, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var body = BuildQuote(t, ek, ak, sessionId, nonce, node.WireGuardKey().Public);
        body["eventLog"] = Convert.ToBase64String(EventLogs.EmptySha256());
        var q = await PostAsync(http, "quote", body);
        Assert.True(q.IsSuccessStatusCode, await q.Content.ReadAsStringAsync());
        var proof = Proof(ek, ak, await q.Content.ReadFromJsonAsync<JsonElement>(), sessionId);
        var a = await PostAsync(http, "activate", new { sessionId, proof });
        Assert.True(a.IsSuccessStatusCode, await a.Content.ReadAsStringAsync());
        return (sessionId, await a.Content.ReadFromJsonAsync<JsonElement>());
    }

    /// <summary>The whole happy path; returns the activate response.</summary>
    public static async Task<JsonElement> AttestAsync(HttpClient http, SwtpmNode node, string token, string mac, EkKind kind = EkKind.RsaL1)
    {
        using var tpm = node.Connect();
        using var ek = EndorsementKey.Create(tpm, kind);
        using var ak = AttestationKey.Create(tpm, ek, TpmTemplates.AkRsa2048());
        var (_, wg) = node.WireGuardKey();
        var (sessionId, nonce) = await ChallengeAsync(http, token, mac);
        var q = await PostAsync(http, "quote", BuildQuote(tpm, ek, ak, sessionId, nonce, wg));
        Assert.True(q.IsSuccessStatusCode, await q.Content.ReadAsStringAsync());
        var proof = Proof(ek, ak, await q.Content.ReadFromJsonAsync<JsonElement>(), sessionId);
        var a = await PostAsync(http, "activate", new { sessionId, proof });
        Assert.True(a.IsSuccessStatusCode, await a.Content.ReadAsStringAsync());
        var body = await a.Content.ReadFromJsonAsync<JsonElement>();
        if (body.GetProperty("state").GetString() == "Attested")
        {
            var ready = await PostAsync(http, "ready", new { sessionId });
            Assert.True(ready.IsSuccessStatusCode, await ready.Content.ReadAsStringAsync());
        }

        return body;
    }
}
