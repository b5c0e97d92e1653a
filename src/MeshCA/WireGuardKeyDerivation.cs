using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Kldload.MeshCA;

/// <summary>
/// The node's WireGuard private key, derived from its TPM so that it never has to be stored:
/// <c>private = clamp(HKDF-SHA256(ikm = TPM2_HMAC(K, "kldload/wg"), salt = none, info = "kldload/wg/v1/epoch=N"))</c>
/// (RFC 5869; no salt means a zero salt of hash length). The same TPM gives the same key for an epoch;
/// bumping the epoch rotates the key; a TPM clear or new hardware gives an unrelated key.
/// </summary>
public static class WireGuardKeyDerivation
{
    /// <summary>The message HMACed by the TPM: the ASCII bytes of <c>kldload/wg</c>.</summary>
    public static ReadOnlySpan<byte> TpmLabel => "kldload/wg"u8;

    /// <summary>The HKDF info string for <paramref name="epoch"/>: <c>kldload/wg/v1/epoch=N</c> in ASCII, N in decimal.</summary>
    public static byte[] Info(uint epoch) =>
        Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"kldload/wg/v1/epoch={epoch}"));

    /// <summary>Derives the private key for <paramref name="epoch"/> through the TPM. The caller should zero it after use.</summary>
    public static byte[] DerivePrivateKey(ITpmHmac tpm, uint epoch)
    {
        ArgumentNullException.ThrowIfNull(tpm);
        var ikm = tpm.Hmac(TpmLabel);
        try
        {
            var key = new byte[WireGuardKey.Length];
            DerivePrivateKey(ikm, epoch, key);
            return key;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ikm);
        }
    }

    /// <summary>The pure half of the derivation: HKDF-SHA256 over the TPM's HMAC output, then clamp.</summary>
    public static void DerivePrivateKey(ReadOnlySpan<byte> tpmHmac, uint epoch, Span<byte> privateKey)
    {
        if (tpmHmac.Length == 0)
        {
            throw new ArgumentException("the TPM HMAC output is empty", nameof(tpmHmac));
        }

        HKDF.DeriveKey(HashAlgorithmName.SHA256, tpmHmac, privateKey[..WireGuardKey.Length], salt: [], info: Info(epoch));
        WireGuardKey.Clamp(privateKey[..WireGuardKey.Length]);
    }
}
