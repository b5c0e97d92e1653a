using BcX25519 = Org.BouncyCastle.Math.EC.Rfc7748.X25519;

namespace Kldload.Age;

/// <summary>X25519 (RFC 7748) for age's recipient stanzas, computed by BouncyCastle.</summary>
internal static class X25519
{
    public const int KeyLength = 32;

    /// <summary>The public key (u-coordinate) of a 32-byte secret; the secret is clamped as RFC 7748 says.</summary>
    public static byte[] PublicKeyOf(ReadOnlySpan<byte> secret)
    {
        Require(secret, nameof(secret));
        var publicKey = new byte[KeyLength];
        BcX25519.GeneratePublicKey(secret.ToArray(), 0, publicKey, 0);
        return publicKey;
    }

    /// <summary>
    /// The shared secret of <paramref name="secret"/> and <paramref name="peer"/>; false when it is all
    /// zeros, which a low-order peer key produces (RFC 7748 section 6.1; age refuses such shares). The
    /// top bit of the peer's u-coordinate is masked first (RFC 7748 section 5).
    /// </summary>
    public static bool TryAgree(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> peer, Span<byte> shared)
    {
        Require(secret, nameof(secret));
        Require(peer, nameof(peer));
        if (shared.Length != KeyLength)
        {
            throw new ArgumentException($"the shared secret needs {KeyLength} bytes", nameof(shared));
        }

        var u = peer.ToArray();
        u[31] &= 0x7F;
        var result = new byte[KeyLength];
        var ok = BcX25519.CalculateAgreement(secret.ToArray(), 0, u, 0, result, 0);
        result.CopyTo(shared);
        return ok;
    }

    private static void Require(ReadOnlySpan<byte> key, string name)
    {
        if (key.Length != KeyLength)
        {
            throw new ArgumentException($"an X25519 key is {KeyLength} bytes, not {key.Length}", name);
        }
    }
}
