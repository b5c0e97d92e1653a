using System.Security.Cryptography;
using System.Text.Json;
using Kldload.Facts.Canonical;

namespace Kldload.Facts;

/// <summary>
/// How a node's facts are bound into its TPM quote: the quote's qualifying data (TPM2_Quote
/// qualifyingData, TPMS_ATTEST.extraData) is
/// <c>SHA-256(nonce ‖ WireGuard public key ‖ SHA-256(JCS(facts)))</c>, the facts' digest entering as
/// its 32 raw bytes and JCS being RFC 8785 (<see cref="JsonCanonicalizer"/>). The AK signs it, so the
/// facts cannot be replaced in transit. The older form <c>SHA-256(nonce ‖ WireGuard public key)</c>
/// binds no facts (<see cref="Unbound"/>). One implementation, used by kldload-agent and kldload.
/// </summary>
public static class FactsBinding
{
    /// <summary>SHA-256 of the facts' canonical form.</summary>
    public static byte[] Digest(JsonElement facts) => SHA256.HashData(JsonCanonicalizer.Canonicalize(facts));

    /// <summary>SHA-256 of canonical bytes already produced by <see cref="JsonCanonicalizer"/>.</summary>
    public static byte[] DigestOfCanonical(ReadOnlySpan<byte> canonical) => SHA256.HashData(canonical);

    /// <summary>The qualifying data that binds the facts (their digest, 32 bytes).</summary>
    public static byte[] Bound(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> wireGuardPublicKey, ReadOnlySpan<byte> factsDigest)
    {
        if (factsDigest.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException("the facts digest is a SHA-256 (32 bytes)", nameof(factsDigest));
        }

        return SHA256.HashData([.. nonce, .. wireGuardPublicKey, .. factsDigest]);
    }

    /// <summary>The older qualifying data, binding no facts: accepted for one release (facts then stored as unbound).</summary>
    public static byte[] Unbound(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> wireGuardPublicKey) =>
        SHA256.HashData([.. nonce, .. wireGuardPublicKey]);
}
