using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Kldload.ImageStore;

/// <summary>
/// A SHA-256 digest, the address of a blob in the image store. Its text form is 64 lowercase hex
/// characters, which is also how it appears in URLs (<c>/images/{digest}</c>) and ETags.
/// </summary>
public readonly record struct Sha256Digest
{
    private readonly string _hex;

    private Sha256Digest(string hex) => _hex = hex;

    /// <summary>Lowercase hex form.</summary>
    public override string ToString() => _hex ?? string.Empty;

    /// <summary>Digest of <paramref name="data"/>.</summary>
    public static Sha256Digest Of(ReadOnlySpan<byte> data)
        => new(Convert.ToHexStringLower(SHA256.HashData(data)));

    /// <summary>The digest whose 32 raw bytes are <paramref name="hash"/> (the output of a SHA-256 computation).</summary>
    public static Sha256Digest FromHash(ReadOnlySpan<byte> hash)
        => hash.Length == SHA256.HashSizeInBytes
            ? new(Convert.ToHexStringLower(hash))
            : throw new ArgumentException($"a SHA-256 hash is {SHA256.HashSizeInBytes} bytes, not {hash.Length}", nameof(hash));

    /// <summary>Parses exactly 64 hex characters; upper case is refused so a digest has one spelling.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out Sha256Digest? digest)
    {
        digest = null;
        if (text is null || text.Length != 64)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f'))
            {
                return false;
            }
        }

        digest = new Sha256Digest(text);
        return true;
    }
}
