using System.Security.Cryptography;
using NSec.Cryptography;

namespace Kldload.MeshCA;

/// <summary>
/// Curve25519 (X25519, RFC 7748) key helpers shared by the provisioner and the node agent: clamping,
/// public-key computation, Diffie-Hellman, the low-order check, and the base64 text form that
/// <c>wg</c> prints and reads.
/// </summary>
public static class WireGuardKey
{
    /// <summary>Length of a WireGuard (X25519) key in bytes.</summary>
    public const int Length = 32;

    /// <summary>Length of the base64 text of a key, as <c>wg genkey</c>/<c>wg pubkey</c> print it (with one '=').</summary>
    public const int Base64Length = 44;

    /// <summary>
    /// The u-coordinates, little-endian as X25519 encodes them, of every point of small order (1, 2,
    /// 4 or 8) on Curve25519 and its quadratic twist, canonical and non-canonical (u + p where that is
    /// below 2^255): 0, 1, the two points of order 8, p - 1, p and p + 1. X25519 multiplies by a clamped
    /// scalar, a multiple of the cofactor 8, so exactly these peer keys (with the top bit masked, RFC 7748
    /// section 5) give an all-zero shared secret. The same seven encodings are libsodium's blocklist.
    /// </summary>
    private static readonly byte[][] s_smallOrderPoints =
    [
        Convert.FromHexString("0000000000000000000000000000000000000000000000000000000000000000"),
        Convert.FromHexString("0100000000000000000000000000000000000000000000000000000000000000"),
        Convert.FromHexString("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        Convert.FromHexString("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        Convert.FromHexString("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        Convert.FromHexString("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        Convert.FromHexString("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ];

    /// <summary>
    /// Clamps 32 bytes into an X25519 scalar as RFC 7748 section 5 and <c>wg genkey</c> do:
    /// clear the low three bits, clear the top bit, set bit 254.
    /// </summary>
    public static void Clamp(Span<byte> scalar)
    {
        if (scalar.Length != Length)
        {
            throw new ArgumentException($"an X25519 scalar is {Length} bytes, got {scalar.Length}", nameof(scalar));
        }

        scalar[0] &= 248;
        scalar[31] &= 127;
        scalar[31] |= 64;
    }

    /// <summary>Computes X25519(privateKey, 9): the public key that <c>wg pubkey</c> prints for this private key.</summary>
    public static byte[] PublicKeyOf(ReadOnlySpan<byte> privateKey)
    {
        RequireLength(privateKey, nameof(privateKey));
        using var key = Key.Import(KeyAgreementAlgorithm.X25519, privateKey, KeyBlobFormat.RawPrivateKey);
        return key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    /// <summary>
    /// X25519 Diffie-Hellman (RFC 7748 section 5 and 6.1): the scalar is clamped by the function and the
    /// top bit of the u-coordinate is ignored. Returns false when the result is all zeros, which is what
    /// a low-order peer key produces (RFC 7748 section 6.1 recommends the check; WireGuard makes it).
    /// </summary>
    public static bool TryAgree(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> peerPublicKey, Span<byte> sharedSecret)
    {
        RequireLength(privateKey, nameof(privateKey));
        RequireLength(peerPublicKey, nameof(peerPublicKey));
        RequireLength(sharedSecret, nameof(sharedSecret));

        // RFC 7748 section 5: implementations MUST mask the most significant bit of the u-coordinate.
        Span<byte> u = stackalloc byte[Length];
        peerPublicKey.CopyTo(u);
        u[31] &= 0x7F;

        using var key = Key.Import(KeyAgreementAlgorithm.X25519, privateKey, KeyBlobFormat.RawPrivateKey);
        if (!PublicKey.TryImport(KeyAgreementAlgorithm.X25519, u, KeyBlobFormat.RawPublicKey, out var peer) || peer is null)
        {
            return false;
        }

        var parameters = new SharedSecretCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };
        using var shared = KeyAgreementAlgorithm.X25519.Agree(key, peer, in parameters);
        if (shared is null)
        {
            sharedSecret.Clear();
            return false;
        }

        if (!shared.TryExport(SharedSecretBlobFormat.RawSharedSecret, sharedSecret, out var written) || written != Length)
        {
            throw new CryptographicException("X25519 shared secret export failed");
        }

        return true;
    }

    /// <summary>
    /// True when <paramref name="publicKey"/> is a usable peer key: 32 bytes and not of small order
    /// (a small-order key makes every shared secret all zeros, so it must never be accepted from a node).
    /// A comparison with the seven small-order encodings, not an agreement: it runs on every
    /// attestation, and an X25519 agreement through libsodium costs a scalar multiplication and
    /// guarded allocations. Public keys are not secret, so the comparison need not be constant-time.
    /// </summary>
    public static bool IsAcceptablePeerKey(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != Length)
        {
            return false;
        }

        // RFC 7748 section 5: the most significant bit of the u-coordinate is masked on decoding.
        var top = (byte)(publicKey[Length - 1] & 0x7F);
        foreach (var point in s_smallOrderPoints)
        {
            if (top == point[Length - 1] && publicKey[..(Length - 1)].SequenceEqual(point.AsSpan(0, Length - 1)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The base64 text of a key, as <c>wg</c> prints it (44 characters ending in '=').</summary>
    public static string ToBase64(ReadOnlySpan<byte> key)
    {
        RequireLength(key, nameof(key));
        return Convert.ToBase64String(key);
    }

    /// <summary>Parses the 44-character base64 text <c>wg</c> uses; false for anything else.</summary>
    public static bool TryParseBase64(string? text, out byte[] key)
    {
        key = [];
        if (text is null || text.Length != Base64Length)
        {
            return false;
        }

        var buffer = new byte[Length + 1];
        if (!Convert.TryFromBase64String(text, buffer, out var written) || written != Length)
        {
            return false;
        }

        key = buffer[..Length];
        return true;
    }

    private static void RequireLength(ReadOnlySpan<byte> key, string name)
    {
        if (key.Length != Length)
        {
            throw new ArgumentException($"an X25519 key is {Length} bytes, got {key.Length}", name);
        }
    }
}
