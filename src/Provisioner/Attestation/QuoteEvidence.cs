using Kldload.Contracts;
using Kldload.Facts;
using Kldload.MeshCA;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Provisioner.Attestation;

/// <summary>The quote request, parsed: every TPM structure read, nothing yet believed.</summary>
public sealed record QuoteEvidence(
    byte[] EkPublicBytes,
    TpmtPublic Ek,
    byte[] AkPublicBytes,
    TpmtPublic Ak,
    byte[] Quote,
    TpmtSignature Signature,
    IReadOnlyDictionary<(TpmAlgId Hash, int Pcr), byte[]> Pcrs,
    byte[]? EventLog,
    byte[]? EkCertificate,
    byte[] WireGuardPublicKey)
{
    /// <summary>Most EK chain certificates accepted from a node.</summary>
    public const int MaxChainCertificates = 8;

    /// <summary>Intermediates the node sent from its TPM's EK chain indices (DER).</summary>
    public IReadOnlyList<byte[]> EkCertificateChain { get; init; } = [];

    /// <summary>The facts the node sent, in RFC 8785 canonical form (checked against <see cref="FactsLimits"/>); null when none.</summary>
    public byte[]? CanonicalFacts { get; init; }

    /// <summary>Largest base64 field accepted (an event log of a real boot is tens of KiB).</summary>
    public const int MaxFieldBytes = 1 << 20;

    /// <summary>Reads a quote request; a field that is missing, too large or does not parse is refused with <c>malformed-evidence</c>.</summary>
    public static QuoteEvidence Read(QuoteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var ekBytes = Base64(request.EkPublic, "ekPublic", required: true)!;
        var akBytes = Base64(request.AkPublic, "akPublic", required: true)!;
        var quote = Base64(request.Quote, "quote", required: true)!;
        var signatureBytes = Base64(request.Signature, "signature", required: true)!;
        var ek = Parse<Tpm2bPublic>(ekBytes, "ekPublic (TPM2B_PUBLIC)").Public;
        var ak = Parse<Tpm2bPublic>(akBytes, "akPublic (TPM2B_PUBLIC)").Public;
        var signature = Parse<TpmtSignature>(signatureBytes, "signature (TPMT_SIGNATURE)");
        if (!WireGuardKey.TryParseBase64(request.WireguardPublicKey, out var wgKey) || !WireGuardKey.IsAcceptablePeerKey(wgKey))
        {
            throw new AttestationRefusedException("quote", "wireguard-key-invalid", "wireguardPublicKey is not a usable X25519 key (base64 of 32 bytes, not of small order)");
        }

        return new QuoteEvidence(
            ekBytes,
            ek,
            akBytes,
            ak,
            quote,
            signature,
            ReadPcrs(request.Pcrs),
            Base64(request.EventLog, "eventLog", required: false),
            Base64(request.EkCertificate, "ekCertificate", required: false),
            wgKey)
        {
            EkCertificateChain = ReadChain(request.EkCertificateChain),
            CanonicalFacts = ReadFacts(request.Facts),
        };
    }

    private static byte[]? ReadFacts(System.Text.Json.JsonElement? facts)
    {
        if (facts is not { } value || value.ValueKind == System.Text.Json.JsonValueKind.Null)
        {
            return null;
        }

        try
        {
            return FactsLimits.CheckAndCanonicalize(value);
        }
        catch (FactsRefusedException e)
        {
            throw new AttestationRefusedException("quote", "facts-refused", e.Message);
        }
    }

    private static List<byte[]> ReadChain(List<string>? chain)
    {
        if (chain is null)
        {
            return [];
        }

        if (chain.Count > MaxChainCertificates)
        {
            throw Malformed($"ekCertificateChain has {chain.Count} certificates; at most {MaxChainCertificates} are accepted");
        }

        return [.. chain.Select((c, i) => Base64(c, $"ekCertificateChain[{i}]", required: true)!)];
    }

    private static AttestationRefusedException Malformed(string message) => new("quote", "malformed-evidence", message);

    private static byte[]? Base64(string? value, string field, bool required)
    {
        if (string.IsNullOrEmpty(value))
        {
            return required ? throw Malformed($"{field} is missing") : null;
        }

        if (value.Length > MaxFieldBytes / 3 * 4 + 4)
        {
            throw Malformed($"{field} is larger than {MaxFieldBytes} bytes");
        }

        try
        {
            var bytes = Convert.FromBase64String(value);
            return bytes.Length > 0 || !required ? bytes : throw Malformed($"{field} is empty");
        }
        catch (FormatException)
        {
            throw Malformed($"{field} is not base64");
        }
    }

    private static T Parse<T>(byte[] bytes, string what)
        where T : ITpmStructure<T>
    {
        try
        {
            return TpmMarshal.TryRead<T>(bytes, out var value, out var error) ? value : throw Malformed($"{what} does not parse: {error}");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or OverflowException)
        {
            throw Malformed($"{what} does not parse: {e.Message}");
        }
    }

    private static Dictionary<(TpmAlgId, int), byte[]> ReadPcrs(Dictionary<string, Dictionary<string, string>>? pcrs)
    {
        var values = new Dictionary<(TpmAlgId, int), byte[]>();
        if (pcrs is null || !pcrs.TryGetValue("sha256", out var bank) || bank is null)
        {
            throw Malformed("pcrs.sha256 is missing");
        }

        foreach (var (index, hex) in bank)
        {
            if (!int.TryParse(index, out var pcr) || pcr is < 0 or > 23 || hex is not { Length: 64 })
            {
                throw Malformed($"pcrs.sha256[{Clip(index)}] is not a PCR index with a 32-byte hex value");
            }

            try
            {
                values[(TpmAlgId.Sha256, pcr)] = Convert.FromHexString(hex);
            }
            catch (FormatException)
            {
                throw Malformed($"pcrs.sha256[{pcr}] is not hex");
            }
        }

        return values;
    }

    private static string Clip(string value) => value.Length <= 16 ? value : value[..16] + "…";
}
