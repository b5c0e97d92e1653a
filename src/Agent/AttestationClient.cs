using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Kldload.Contracts;
using Kldload.Facts;
using Kldload.MeshCA;
using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Agent;

/// <summary>A step the server refused; the message says what the operator can do.</summary>
internal sealed class StepRefusedException(string message) : Exception(message);

/// <summary>One attestation's result: the server's activate answer (not yet verified) and the key the node derived.</summary>
internal sealed record AttestationOutcome(string SessionId, ActivateResponse Activation, uint KeyEpoch, byte[] WireGuardPrivateKey, byte[] WireGuardPublicKey);

/// <summary>
/// The node's side of challenge / quote / activate (the wire contract of <c>tools/attest-client.sh</c>)
/// with the node's TPM: the EK (ECC when the TPM holds an ECC EK certificate; a persistent EK reused),
/// its certificate and chain from NV, an RSA AK under it, the quote over
/// SHA-256(nonce || WireGuard key || SHA-256(canonical facts)) (<see cref="FactsBinding"/>), ActivateCredential, and the WireGuard key derived at the key epoch the challenge names.
/// </summary>
internal sealed class AttestationClient(HttpClient http, Tpm2 tpm, string bootToken, Action<string> say)
{
    private static readonly int[] DefaultPcrs = [0, 1, 2, 3, 4, 5, 6, 7, 9];
    private EkChoice? _ek;

    private sealed record EkChoice(EkKind Kind, byte[]? Certificate, IReadOnlyList<byte[]> Chain);

    /// <summary>
    /// Runs the three steps once, binding <c>canonicalFacts</c> (RFC 8785 form; null sends none) into the quote;
    /// HTTP problems surface as <see cref="HttpRequestException"/>, refusals as <see cref="StepRefusedException"/>.
    /// </summary>
    public async Task<AttestationOutcome> AttestAsync(string mac, byte[]? eventLog, byte[]? canonicalFacts, CancellationToken ct)
    {
        say($"challenge: {http.BaseAddress}");
        var challenge = await PostAsync(http, "challenge", new ChallengeRequest(bootToken, mac), AgentJsonContext.Default.ChallengeRequest, AgentJsonContext.Default.ChallengeResponse, ct);
        var pcrs = challenge.PcrSelection is { } sel && sel.TryGetValue("sha256", out var list) ? [.. list] : DefaultPcrs;
        var keyEpoch = challenge.KeyEpoch;

        byte[] wgPrivate;
        using (var hmac = TpmHmacKey.Open(tpm))
        {
            wgPrivate = WireGuardKeyDerivation.DerivePrivateKey(new TpmHmacAdapter(hmac), keyEpoch);
        }

        var wgPublic = WireGuardKey.PublicKeyOf(wgPrivate);
        say($"wireguard key: derived from the TPM (epoch {keyEpoch}), public {WireGuardKey.ToBase64(wgPublic)}");

        var choice = _ek ??= ChooseEk();
        using var ek = EndorsementKey.OpenOrCreate(tpm, choice.Kind, choice.Certificate);
        say($"ek: {choice.Kind} {(ek.IsPersistent ? $"persistent 0x{ek.Handle:x8}" : "created")}, " +
            (choice.Certificate is null ? "no EK certificate in NV" : $"certificate from NV 0x{TpmTemplates.EkCertificateIndex(choice.Kind):x8}") +
            (choice.Chain.Count > 0 ? $", {choice.Chain.Count} chain certificates" : string.Empty));
        using var ak = AttestationKey.Create(tpm, ek, TpmTemplates.AkRsa2048());
        say("ak: created (RSA 2048)");
        var nonce = Convert.FromBase64String(challenge.Nonce);
        var selection = TpmlPcrSelection.Create(TpmAlgId.Sha256, pcrs);
        var qualifyingData = canonicalFacts is null
            ? FactsBinding.Unbound(nonce, wgPublic)
            : FactsBinding.Bound(nonce, wgPublic, FactsBinding.DigestOfCanonical(canonicalFacts));
        var quote = ak.Quote(qualifyingData, selection);
        var values = tpm.PcrRead(selection);
        var request = new QuoteRequest(
            challenge.SessionId,
            Convert.ToBase64String(ek.Public.ToSizedBytes()),
            choice.Certificate is null ? null : Convert.ToBase64String(choice.Certificate),
            Convert.ToBase64String(ak.Public.ToSizedBytes()),
            Convert.ToBase64String(quote.AttestBytes),
            Convert.ToBase64String(TpmMarshal.ToBytes(quote.Signature)),
            new Dictionary<string, Dictionary<string, string>>
            {
                ["sha256"] = values.ToDictionary(kv => kv.Key.Pcr.ToString(CultureInfo.InvariantCulture), kv => Convert.ToHexStringLower(kv.Value)),
            },
            eventLog is null ? null : Convert.ToBase64String(eventLog),
            Convert.ToBase64String(wgPublic),
            canonicalFacts is null ? null : FactsElement(canonicalFacts))
        {
            EkCertificateChain = choice.Chain.Count == 0 ? null : [.. choice.Chain.Select(Convert.ToBase64String)],
        };
        say($"quote: sha256 PCRs {string.Join(',', pcrs)}{(canonicalFacts is null ? string.Empty : $", facts bound ({canonicalFacts.Length} bytes)")}");
        var credential = await PostAsync(http, "quote", request, AgentJsonContext.Default.QuoteRequest, AgentJsonContext.Default.QuoteResponse, ct);

        var blob = TpmMarshal.Read<Tpm2bIdObject>(Convert.FromBase64String(credential.CredentialBlob));
        var secret = TpmMarshal.Read<Tpm2bEncryptedSecret>(Convert.FromBase64String(credential.EncryptedSecret));
        var recovered = ak.ActivateCredential(ek, blob, secret);
        var proof = Convert.ToBase64String(HMACSHA256.HashData(recovered, Encoding.UTF8.GetBytes(challenge.SessionId)));
        say("activate: credential recovered by the TPM");
        var activation = await PostAsync(http, "activate", new ActivateRequest(challenge.SessionId, proof), AgentJsonContext.Default.ActivateRequest, AgentJsonContext.Default.ActivateResponse, ct);
        return new AttestationOutcome(challenge.SessionId, activation, keyEpoch, wgPrivate, wgPublic);
    }

    private static JsonElement FactsElement(byte[] canonical)
    {
        using var document = JsonDocument.Parse(canonical);
        return document.RootElement.Clone();
    }

    private EkChoice ChooseEk()
    {
        var (kind, certificate) = EndorsementKey.Preferred(tpm);
        IReadOnlyList<byte[]> chain;
        try
        {
            chain = EndorsementKey.ReadCertificateChain(tpm);
        }
        catch (Exception e) when (e is TpmException or TpmFormatException)
        {
            say($"ek: chain indices unreadable ({e.Message}); sending the EK certificate alone");
            chain = [];
        }

        return new EkChoice(kind, certificate, chain);
    }

    /// <summary>POSTs one step of <c>/api/v1/attest/</c>; a 4xx/5xx becomes a <see cref="StepRefusedException"/> naming the server's reason.</summary>
    public static async Task<TResponse> PostAsync<TRequest, TResponse>(HttpClient http, string step, TRequest body,
        JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(http);
        using var response = await http.PostAsJsonAsync(new Uri($"api/v1/attest/{step}", UriKind.Relative), body, requestType, ct);
        if ((int)response.StatusCode >= 400)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            string detail;
            try
            {
                var problem = System.Text.Json.JsonSerializer.Deserialize(text, AgentJsonContext.Default.ProblemResponse);
                detail = $"{problem?.Reason}: {problem?.Detail ?? problem?.Title}";
            }
            catch (System.Text.Json.JsonException)
            {
                detail = text;
            }

            throw new StepRefusedException($"{step} refused with HTTP {(int)response.StatusCode} ({detail}); see `kldload nodes show` on the server");
        }

        return await response.Content.ReadFromJsonAsync(responseType, ct)
            ?? throw new StepRefusedException($"{step}: empty response from the server");
    }

    private sealed class TpmHmacAdapter(TpmHmacKey key) : ITpmHmac
    {
        public byte[] Hmac(ReadOnlySpan<byte> message) => key.Hmac(message);
    }
}
