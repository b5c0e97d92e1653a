using System.Buffers.Text;
using System.Security.Cryptography;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// A short-lived token written on the node's kernel command line. It is bound to the MAC that
/// fetched the script, opens attestation sessions until one completes, and expires after
/// <c>Boot:TokenLifetime</c>. Kept in the database (<see cref="IBootTokenStore"/>) so a restart of
/// kldload does not strand a booting node.
/// </summary>
public sealed class BootToken : IKldloadDocument
{
    /// <summary>43 characters of the base64url alphabet: safe on a kernel command line and in URLs. The key.</summary>
    public string Token { get; set; } = string.Empty;

    public string NodeId { get; set; } = string.Empty;

    public string Mac { get; set; } = string.Empty;

    public DateTime IssuedAt { get; set; }

    public DateTime ExpiresAt { get; set; }

    /// <summary>Set when an attestation opened by this token completed; the token opens no more sessions.</summary>
    public DateTime? CompletedAt { get; set; }

    /// <summary>The image served with this token (name version).</summary>
    public string? ImageName { get; set; }

    public string? ImageVersion { get; set; }

    public string? KernelDigest { get; set; }

    /// <summary>Authenticode digest of the kernel served, for the measured-boot check.</summary>
    public string? KernelAuthenticodeDigest { get; set; }

    /// <summary>SHA-256 of the initrd served (the Linux EFI stub's "Linux initrd" tag in PCR 9).</summary>
    public string? InitrdDigest { get; set; }

    /// <summary>
    /// The load options iPXE hands the kernel for this script: the kernel image's name, a space and
    /// the arguments of its <c>kernel</c> line, as the EFI stub measures them into PCR 9.
    /// </summary>
    public string? LoadOptions { get; set; }
}

/// <summary>Why a boot token was refused.</summary>
public enum BootTokenProblem
{
    None,
    Unknown,
    Expired,
    Used,
    WrongMac,
}

/// <summary>Issues and checks boot tokens; they are kept in an <see cref="IBootTokenStore"/>.</summary>
public sealed class BootTokens
{
    /// <summary>Longest token text looked up: anything longer is no token of ours.</summary>
    private const int MaxTokenLength = 128;

    private readonly IBootTokenStore _tokens;
    private readonly TimeProvider _time;

    public BootTokens(IBootTokenStore tokens, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(time);
        _tokens = tokens;
        _time = time;
    }

    /// <summary>Creates a token for one boot of one node.</summary>
    public BootToken Issue(string nodeId, string mac, TimeSpan lifetime, BootImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var now = _time.GetUtcNow().UtcDateTime;
        var token = new BootToken
        {
            Token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)),
            NodeId = nodeId,
            Mac = mac,
            IssuedAt = now,
            ExpiresAt = now + lifetime,
            ImageName = image.Name,
            ImageVersion = image.Version,
            KernelDigest = image.KernelDigest,
            KernelAuthenticodeDigest = image.KernelAuthenticodeDigest,
            InitrdDigest = image.InitrdDigest,
        };
        _tokens.Insert(token);
        return token;
    }

    /// <summary>The token as stored, whatever its state; null when unknown.</summary>
    public BootToken? Find(string? tokenText) =>
        string.IsNullOrEmpty(tokenText) || tokenText.Length > MaxTokenLength ? null : _tokens.Find(tokenText);

    /// <summary>Checks a token presented by <paramref name="mac"/>.</summary>
    public BootTokenProblem Check(string? tokenText, string? mac, out BootToken? token)
    {
        token = Find(tokenText);
        if (token is null)
        {
            return BootTokenProblem.Unknown;
        }

        if (token.ExpiresAt <= _time.GetUtcNow().UtcDateTime)
        {
            return BootTokenProblem.Expired;
        }

        if (token.CompletedAt is not null)
        {
            return BootTokenProblem.Used;
        }

        return token.Mac == mac ? BootTokenProblem.None : BootTokenProblem.WrongMac;
    }

    /// <summary>Marks the token used: an attestation it opened completed.</summary>
    public void Complete(BootToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        token.CompletedAt = _time.GetUtcNow().UtcDateTime;
        _tokens.Update(token);
    }

    /// <summary>Records the load options of the script rendered for this token.</summary>
    public void RecordLoadOptions(BootToken token, string? loadOptions)
    {
        ArgumentNullException.ThrowIfNull(token);
        token.LoadOptions = loadOptions;
        _tokens.Update(token);
    }

    /// <summary>
    /// The load options iPXE passes to the kernel a script's <c>kernel</c> line loads
    /// (<c>kernel [--name N] URI ARGS...</c>): the image name (N, else the last segment of the URI's
    /// path), then a space and the arguments joined by single spaces. Null when the script has no
    /// kernel line.
    /// </summary>
    public static string? LoadOptionsOf(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        var line = script.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("kernel ", StringComparison.Ordinal));
        if (line is null)
        {
            return null;
        }

        var words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
        string? name = null;
        while (words.Count > 0 && words[0].StartsWith('-'))
        {
            var option = words[0];
            words.RemoveAt(0);
            if (option is "--name" or "-n" && words.Count > 0)
            {
                name = words[0];
                words.RemoveAt(0);
            }
            else if (option.StartsWith("--name=", StringComparison.Ordinal))
            {
                name = option["--name=".Length..];
            }
        }

        if (words.Count == 0)
        {
            return null;
        }

        var uri = words[0];
        var path = uri.Split('?', '#')[0];
        name ??= path[(path.LastIndexOf('/') + 1)..];
        var args = words.Skip(1).ToList();
        return args.Count == 0 ? name : name + " " + string.Join(' ', args);
    }

    /// <summary>Deletes tokens that expired more than a day ago (run in the background, not per request).</summary>
    public int DeleteExpired() => _tokens.DeleteExpiredBefore(_time.GetUtcNow().UtcDateTime - TimeSpan.FromDays(1));

    /// <summary>Ends every open token of a node (decommission, replace): none opens a session again.</summary>
    public int CloseFor(string nodeId) => _tokens.ExpireOpen(nodeId, _time.GetUtcNow().UtcDateTime);
}
