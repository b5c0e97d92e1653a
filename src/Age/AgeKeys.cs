using System.Security.Cryptography;

namespace Kldload.Age;

/// <summary>An age X25519 recipient (public key), written <c>age1...</c> (Bech32, HRP <c>age</c>).</summary>
public sealed record AgeRecipient
{
    private AgeRecipient(byte[] publicKey) => PublicKey = publicKey;

    /// <summary>The 32-byte X25519 public key.</summary>
    public byte[] PublicKey { get; }

    public static AgeRecipient FromPublicKey(ReadOnlySpan<byte> publicKey) =>
        publicKey.Length == 32 ? new AgeRecipient(publicKey.ToArray()) : throw new ArgumentException("an X25519 public key is 32 bytes", nameof(publicKey));

    /// <summary>Parses <c>age1...</c>; false with a reason when the text is not one.</summary>
    public static bool TryParse(string text, out AgeRecipient? recipient, out string error)
    {
        recipient = null;
        if (!Bech32.TryDecode(text.Trim(), out var hrp, out var data) || hrp != "age" || data.Length != 32)
        {
            error = "not an age X25519 recipient (age1..., as age-keygen prints it)";
            return false;
        }

        recipient = new AgeRecipient(data);
        error = string.Empty;
        return true;
    }

    /// <summary>
    /// Reads a recipients file (<c>age1...</c> one per line, <c>#</c> comments, as <c>age -R</c> takes it);
    /// throws <see cref="AgeException"/> naming the file and the first bad line.
    /// </summary>
    public static IReadOnlyList<AgeRecipient> ReadFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new AgeException(AgeFailure.BadKey, $"{path}: no such file");
        }

        var recipients = new List<AgeRecipient>();
        foreach (var line in File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            recipients.Add(TryParse(line, out var recipient, out var error) ? recipient! : throw new AgeException(AgeFailure.BadKey, $"{path}: '{line}' is {error}"));
        }

        return recipients.Count > 0 ? recipients : throw new AgeException(AgeFailure.BadKey, $"{path}: holds no age recipient (age1..., one per line)");
    }

    public override string ToString() => Bech32.Encode("age", PublicKey);

    public bool Equals(AgeRecipient? other) => other is not null && PublicKey.AsSpan().SequenceEqual(other.PublicKey);

    public override int GetHashCode() => BitConverter.ToInt32(PublicKey, 0);
}

/// <summary>
/// An age X25519 identity (secret key), written <c>AGE-SECRET-KEY-1...</c>. Identity files, as
/// <c>age-keygen</c> writes them, hold one key per line with <c>#</c> comments.
/// </summary>
public sealed class AgeIdentity
{
    private readonly byte[] _secret;

    private AgeIdentity(byte[] secret)
    {
        _secret = secret;
        Recipient = AgeRecipient.FromPublicKey(X25519.PublicKeyOf(secret));
    }

    public AgeRecipient Recipient { get; }

    internal ReadOnlySpan<byte> Secret => _secret;

    public static AgeIdentity Generate() => new(RandomNumberGenerator.GetBytes(32));

    public static bool TryParse(string text, out AgeIdentity? identity)
    {
        identity = null;
        if (!Bech32.TryDecode(text.Trim(), out var hrp, out var data) || hrp != "age-secret-key-" || data.Length != 32)
        {
            return false;
        }

        identity = new AgeIdentity(data);
        return true;
    }

    /// <summary>Reads every identity of an identity file; throws with the file name when there is none.</summary>
    public static IReadOnlyList<AgeIdentity> ReadFile(string path)
    {
        var identities = new List<AgeIdentity>();
        foreach (var line in File.ReadAllLines(path))
        {
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                continue;
            }

            if (!TryParse(trimmed, out var id))
            {
                throw new AgeException(AgeFailure.BadKey, $"{path}: a line is not an age identity (AGE-SECRET-KEY-1..., as age-keygen writes it)");
            }

            identities.Add(id!);
        }

        return identities.Count > 0 ? identities : throw new AgeException(AgeFailure.BadKey, $"{path}: no age identity in the file");
    }

    /// <summary>The identity file text, in the layout <c>age-keygen</c> uses.</summary>
    public string ToFileText(DateTimeOffset created) =>
        $"# created: {created:yyyy-MM-ddTHH:mm:sszzz}\n# public key: {Recipient}\n{this}\n";

    public override string ToString() => Bech32.Encode("age-secret-key-", _secret).ToUpperInvariant();
}

/// <summary>Why an age file could not be opened or read.</summary>
public enum AgeFailure
{
    /// <summary>Not an age v1 file, or a header line that does not parse.</summary>
    NotAge,

    /// <summary>No identity or passphrase given opens any stanza of the file.</summary>
    WrongKey,

    /// <summary>The header MAC or a payload chunk does not authenticate: the bytes were changed.</summary>
    Damaged,

    /// <summary>The payload ends without its final chunk: the file was cut short.</summary>
    Truncated,

    /// <summary>A key or key file is malformed.</summary>
    BadKey,
}

public sealed class AgeException(AgeFailure failure, string message, Exception? inner = null) : Exception(message, inner)
{
    public AgeFailure Failure { get; } = failure;
}
