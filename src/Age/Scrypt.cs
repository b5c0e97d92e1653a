using Org.BouncyCastle.Crypto.Generators;

namespace Kldload.Age;

/// <summary>
/// scrypt (RFC 7914) for age's passphrase stanza, whose salt is a 28-byte label and 16 random bytes.
/// BouncyCastle computes it; this class only states age's parameter limits in one place. Memory is
/// 128 * r * 2^logN bytes (256 MiB at age's default logN = 18, r = 8).
/// </summary>
internal static class Scrypt
{
    public static byte[] DeriveKey(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int logN, int r, int p, int length)
    {
        if (logN is < 1 or > 30 || r < 1 || p < 1 || (long)r * p >= 1 << 30 || length < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(logN), "scrypt parameters out of range");
        }

        return SCrypt.Generate(password.ToArray(), salt.ToArray(), 1 << logN, r, p, length);
    }
}
