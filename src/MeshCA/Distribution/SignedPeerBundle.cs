using System.Buffers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Kldload.MeshCA.Authority;

namespace Kldload.MeshCA.Distribution;

/// <summary>
/// A peer bundle as it travels to a node: the exact payload bytes, the ECDSA P-256/SHA-256 signature
/// over them (DER, RFC 3279) by the CA intermediate, and that intermediate's certificate so the node
/// can chain it to a root it trusts. JSON envelope:
/// <c>{"payload":"base64","signature":"base64","signer":"base64 DER certificate"}</c>.
/// With only openssl: <c>openssl dgst -sha256 -verify signer-public.pem -signature sig.der payload.json</c>.
/// </summary>
public sealed record SignedPeerBundle(byte[] Payload, byte[] Signature, byte[] SignerCertificate)
{
    /// <summary>Serializes and signs <paramref name="bundle"/> with <paramref name="ca"/>.</summary>
    public static SignedPeerBundle Sign(PeerBundle bundle, MeshCertificateAuthority ca)
    {
        ArgumentNullException.ThrowIfNull(ca);
        var payload = PeerBundleCodec.Write(bundle);
        return new SignedPeerBundle(payload, ca.SignData(payload), ca.Intermediate.RawData);
    }

    /// <summary>The JSON envelope.</summary>
    public byte[] ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>(Payload.Length * 2);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteBase64String("payload", Payload);
            w.WriteBase64String("signature", Signature);
            w.WriteBase64String("signer", SignerCertificate);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads the JSON envelope (not yet verified).</summary>
    public static bool TryParse(ReadOnlySpan<byte> json, out SignedPeerBundle? signed, out string? error)
    {
        signed = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            using var doc = JsonDocument.ParseValue(ref reader);
            var r = doc.RootElement;
            signed = new SignedPeerBundle(r.GetProperty("payload").GetBytesFromBase64(), r.GetProperty("signature").GetBytesFromBase64(), r.GetProperty("signer").GetBytesFromBase64());
            error = null;
            return true;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            error = $"malformed envelope: {e.Message}";
            return false;
        }
    }

    /// <summary>True when <see cref="Signature"/> is the signer's signature over <see cref="Payload"/> (the chain is not checked here).</summary>
    public bool HasValidSignature()
    {
        try
        {
            using var signer = X509CertificateLoader.LoadCertificate(SignerCertificate);
            using var key = signer.GetECDsaPublicKey();
            return key is not null && key.VerifyData(Payload, Signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
