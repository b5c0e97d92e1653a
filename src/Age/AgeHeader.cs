using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Kldload.Age;

/// <summary>One recipient stanza of an age header: <c>-&gt; type args...</c> and a base64 body.</summary>
public sealed record AgeStanza(string Type, IReadOnlyList<string> Arguments, byte[] Body);

/// <summary>
/// The text header of an age v1 file (age-encryption.org/v1, c2sp.org/age):
/// <code>
/// age-encryption.org/v1\n
/// -> X25519 &lt;base64 ephemeral share&gt;\n        one stanza per recipient; body wrapped at 64 columns,
/// &lt;base64 body&gt;\n                              ending with a line shorter than 64 (maybe empty)
/// --- &lt;base64 HMAC-SHA-256&gt;\n                   over the header up to and including "---"
/// </code>
/// Base64 is standard, unpadded and must be canonical. The 16-byte file key is wrapped once per
/// stanza; the MAC key is HKDF-SHA-256(file key, salt empty, info "header").
/// </summary>
public static class AgeHeader
{
    public const string VersionLine = "age-encryption.org/v1";
    private const int MaxLine = 4096;
    private const int MaxHeader = 1 << 20;
    private static readonly byte[] s_zeroNonce = new byte[12];

    /// <summary>Wraps <paramref name="fileKey"/> for an X25519 recipient (a fresh ephemeral key per stanza).</summary>
    public static AgeStanza WrapX25519(ReadOnlySpan<byte> fileKey, AgeRecipient recipient)
    {
        var ephemeral = RandomNumberGenerator.GetBytes(32);
        var share = X25519.PublicKeyOf(ephemeral);
        Span<byte> shared = stackalloc byte[32];
        if (!X25519.TryAgree(ephemeral, recipient.PublicKey, shared))
        {
            throw new AgeException(AgeFailure.BadKey, "the recipient key is a low-order point");
        }

        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, shared.ToArray(), 32, [.. share, .. recipient.PublicKey], "age-encryption.org/v1/X25519"u8.ToArray());
        return new AgeStanza("X25519", [EncodeBase64(share)], Seal(key, fileKey));
    }

    /// <summary>Wraps <paramref name="fileKey"/> under a passphrase (scrypt, work factor 2^logN).</summary>
    public static AgeStanza WrapScrypt(ReadOnlySpan<byte> fileKey, string passphrase, int logN)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var key = ScryptKey(passphrase, salt, logN);
        return new AgeStanza("scrypt", [EncodeBase64(salt), logN.ToString(CultureInfo.InvariantCulture)], Seal(key, fileKey));
    }

    /// <summary>The header bytes for <paramref name="stanzas"/>, MAC included.</summary>
    public static byte[] Write(ReadOnlySpan<byte> fileKey, IReadOnlyList<AgeStanza> stanzas)
    {
        var text = new StringBuilder();
        text.Append(VersionLine).Append('\n');
        foreach (var s in stanzas)
        {
            text.Append("-> ").Append(s.Type);
            foreach (var a in s.Arguments)
            {
                text.Append(' ').Append(a);
            }

            text.Append('\n');
            var body = EncodeBase64(s.Body);
            for (var i = 0; i <= body.Length; i += 64)
            {
                text.Append(body.AsSpan(i, Math.Min(64, body.Length - i))).Append('\n');
            }
        }

        text.Append("---");
        var macInput = Encoding.ASCII.GetBytes(text.ToString());
        var mac = Mac(fileKey, macInput);
        return [.. macInput, .. Encoding.ASCII.GetBytes(" " + EncodeBase64(mac) + "\n")];
    }

    /// <summary>
    /// Reads a header from <paramref name="input"/> (byte by byte: nothing past the header is consumed),
    /// finds a stanza that one of the keys opens and checks the MAC. Returns the file key.
    /// </summary>
    public static byte[] Read(Stream input, AgeKeys keys)
    {
        var raw = new List<byte>(512);
        var first = ReadLine(input, raw);
        if (first != VersionLine)
        {
            throw new AgeException(AgeFailure.NotAge, first is null ? "empty file: not an age archive" : "not an age v1 file (the first line is not age-encryption.org/v1)");
        }

        var stanzas = new List<AgeStanza>();
        string? line;
        while (true)
        {
            var lineStart = raw.Count;
            line = ReadLine(input, raw) ?? throw new AgeException(AgeFailure.Truncated, "the archive ends inside its header");
            if (line.StartsWith("--- ", StringComparison.Ordinal))
            {
                raw.RemoveRange(lineStart + 3, raw.Count - lineStart - 3); // the MAC covers "---" only
                break;
            }

            if (!line.StartsWith("-> ", StringComparison.Ordinal))
            {
                throw new AgeException(AgeFailure.Damaged, "the archive header is damaged (a line is neither a stanza nor the MAC)");
            }

            var args = line[3..].Split(' ');
            if (args.Any(a => a.Length == 0))
            {
                throw new AgeException(AgeFailure.Damaged, "the archive header is damaged (an empty stanza argument)");
            }

            var body = new StringBuilder();
            while (true)
            {
                var bodyLine = ReadLine(input, raw) ?? throw new AgeException(AgeFailure.Truncated, "the archive ends inside its header");
                if (bodyLine.Length > 64)
                {
                    throw new AgeException(AgeFailure.Damaged, "the archive header is damaged (a stanza line is longer than 64 columns)");
                }

                body.Append(bodyLine);
                if (bodyLine.Length < 64)
                {
                    break;
                }
            }

            stanzas.Add(new AgeStanza(args[0], args[1..], DecodeBase64(body.ToString()) ?? throw new AgeException(AgeFailure.Damaged, "the archive header is damaged (a stanza body is not canonical base64)")));
        }

        var mac = DecodeBase64(line[4..]);
        if (mac is null || mac.Length != 32)
        {
            throw new AgeException(AgeFailure.Damaged, "the archive header is damaged (the MAC line)");
        }

        if (stanzas.Count == 0)
        {
            throw new AgeException(AgeFailure.Damaged, "the archive header has no recipient stanza");
        }

        var fileKey = Unwrap(stanzas, keys);
        if (!CryptographicOperations.FixedTimeEquals(Mac(fileKey, raw.ToArray()), mac))
        {
            throw new AgeException(AgeFailure.Damaged, "the archive header is damaged (its MAC does not match)");
        }

        return fileKey;
    }

    private static byte[] Unwrap(List<AgeStanza> stanzas, AgeKeys keys)
    {
        var scrypt = stanzas.Where(s => s.Type == "scrypt").ToList();
        if (scrypt.Count > 0)
        {
            if (stanzas.Count != 1)
            {
                throw new AgeException(AgeFailure.Damaged, "the archive header mixes a passphrase stanza with others");
            }

            if (keys.Passphrase is null)
            {
                throw new AgeException(AgeFailure.WrongKey, "the archive is encrypted with a passphrase: give --passphrase-file");
            }

            var s = scrypt[0];
            var salt = s.Arguments.Count == 2 ? DecodeBase64(s.Arguments[0]) : null;
            if (salt is not { Length: 16 } || !IsDecimal(s.Arguments[1]) || s.Body.Length != 32)
            {
                throw new AgeException(AgeFailure.Damaged, "the archive header is damaged (the passphrase stanza)");
            }

            var logN = int.Parse(s.Arguments[1], CultureInfo.InvariantCulture);
            if (logN > keys.MaxScryptLogN)
            {
                throw new AgeException(AgeFailure.Damaged, $"the passphrase work factor 2^{logN} is above the limit 2^{keys.MaxScryptLogN}");
            }

            return Open(ScryptKey(keys.Passphrase, salt, logN), s.Body)
                ?? throw new AgeException(AgeFailure.WrongKey, "wrong passphrase: it does not open this archive");
        }

        var x25519 = stanzas.Where(s => s.Type == "X25519").ToList();
        if (keys.Identities.Count == 0)
        {
            throw new AgeException(AgeFailure.WrongKey, x25519.Count > 0
                ? "the archive is encrypted to age recipients: give --identity FILE"
                : "no stanza of a known type (X25519, scrypt) in the archive header");
        }

        Span<byte> shared = stackalloc byte[32];
        foreach (var s in x25519)
        {
            var share = s.Arguments.Count == 1 ? DecodeBase64(s.Arguments[0]) : null;
            if (share is not { Length: 32 } || s.Body.Length != 32)
            {
                throw new AgeException(AgeFailure.Damaged, "the archive header is damaged (an X25519 stanza)");
            }

            foreach (var id in keys.Identities)
            {
                if (!X25519.TryAgree(id.Secret, share, shared))
                {
                    throw new AgeException(AgeFailure.Damaged, "the archive header is damaged (a low-order ephemeral share)");
                }

                var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, shared.ToArray(), 32, [.. share, .. id.Recipient.PublicKey], "age-encryption.org/v1/X25519"u8.ToArray());
                if (Open(key, s.Body) is { } fileKey)
                {
                    return fileKey;
                }
            }
        }

        throw new AgeException(AgeFailure.WrongKey, $"wrong key: none of the {keys.Identities.Count} identit{(keys.Identities.Count == 1 ? "y" : "ies")} given opens this archive ({x25519.Count} X25519 recipient{(x25519.Count == 1 ? string.Empty : "s")})");
    }

    private static bool IsDecimal(string s) => s.Length is > 0 and < 3 && s[0] is >= '1' and <= '9' && s.All(char.IsAsciiDigit);

    private static byte[] ScryptKey(string passphrase, ReadOnlySpan<byte> salt, int logN) =>
        Scrypt.DeriveKey(Encoding.UTF8.GetBytes(passphrase), [.. "age-encryption.org/v1/scrypt"u8, .. salt], logN, 8, 1, 32);

    private static byte[] Seal(byte[] key, ReadOnlySpan<byte> fileKey)
    {
        var body = new byte[fileKey.Length + 16];
        using var aead = new ChaCha20Poly1305(key);
        aead.Encrypt(s_zeroNonce, fileKey, body.AsSpan(0, fileKey.Length), body.AsSpan(fileKey.Length));
        return body;
    }

    private static byte[]? Open(byte[] key, byte[] body)
    {
        var fileKey = new byte[body.Length - 16];
        using var aead = new ChaCha20Poly1305(key);
        try
        {
            aead.Decrypt(s_zeroNonce, body.AsSpan(0, fileKey.Length), body.AsSpan(fileKey.Length), fileKey);
            return fileKey;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }

    private static byte[] Mac(ReadOnlySpan<byte> fileKey, byte[] header)
    {
        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, fileKey.ToArray(), 32, [], "header"u8.ToArray());
        return HMACSHA256.HashData(key, header);
    }

    private static string? ReadLine(Stream input, List<byte> raw)
    {
        var start = raw.Count;
        while (true)
        {
            var b = input.ReadByte();
            if (b < 0)
            {
                return raw.Count == start ? null
                    : start == 0 ? throw new AgeException(AgeFailure.NotAge, "not an age v1 file (no age-encryption.org/v1 line)")
                    : throw new AgeException(AgeFailure.Truncated, "the archive ends inside its header");
            }

            raw.Add((byte)b);
            if (b == '\n')
            {
                return Encoding.ASCII.GetString(raw.ToArray(), start, raw.Count - start - 1);
            }

            if (raw.Count - start > MaxLine || raw.Count > MaxHeader)
            {
                throw new AgeException(start == 0 ? AgeFailure.NotAge : AgeFailure.Damaged, start == 0 ? "not an age v1 file" : "the archive header is damaged (a line is too long)");
            }
        }
    }

    internal static string EncodeBase64(ReadOnlySpan<byte> data) => Convert.ToBase64String(data).TrimEnd('=');

    /// <summary>Unpadded standard base64; null unless canonical (re-encoding gives the same text).</summary>
    internal static byte[]? DecodeBase64(string text)
    {
        if (text.Contains('=', StringComparison.Ordinal) || text.Length % 4 == 1)
        {
            return null;
        }

        try
        {
            var bytes = Convert.FromBase64String(text + new string('=', (4 - (text.Length % 4)) % 4));
            return EncodeBase64(bytes) == text ? bytes : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>What may open an age file: X25519 identities and/or a passphrase.</summary>
public sealed record AgeKeys
{
    public IReadOnlyList<AgeIdentity> Identities { get; init; } = [];

    public string? Passphrase { get; init; }

    /// <summary>The highest scrypt work factor accepted (2^22, as age itself limits it by default).</summary>
    public int MaxScryptLogN { get; init; } = 22;
}
