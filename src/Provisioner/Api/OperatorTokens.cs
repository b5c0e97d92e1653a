using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Api;

/// <summary>
/// What a bearer token may do on the admin API. Each role includes the ones below it; the routes
/// each one opens are listed in <see cref="AdminRoutes"/>.
/// </summary>
public enum OperatorRole
{
    /// <summary>Reads: every GET route, the dashboard's data, the event stream.</summary>
    Viewer = 1,

    /// <summary>Also steers nodes: approve, reimage, decommission, replace, power, rollouts, lease release.</summary>
    Operator = 2,

    /// <summary>Also changes the server: tokens, images and channels, profiles, BMC credentials, backups.</summary>
    Admin = 3,
}

/// <summary>Role names as the API and the CLI spell them (lower case).</summary>
public static class OperatorRoles
{
    /// <summary>The lower-case name: viewer, operator or admin.</summary>
    public static string Name(OperatorRole role) => role switch
    {
        OperatorRole.Viewer => "viewer",
        OperatorRole.Operator => "operator",
        OperatorRole.Admin => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "not a role"),
    };

    /// <summary>Parses viewer, operator or admin (any case); numbers are not roles.</summary>
    public static bool TryParse(string? text, out OperatorRole role)
    {
        foreach (var candidate in Enum.GetValues<OperatorRole>())
        {
            if (string.Equals(text, Name(candidate), StringComparison.OrdinalIgnoreCase))
            {
                role = candidate;
                return true;
            }
        }

        role = default;
        return false;
    }
}

/// <summary>
/// A named operator's token as stored (<see cref="IOperatorTokenStore"/>): the SHA-256 of the token,
/// never the token itself. A revoked token keeps its record (and its name, so that a name in the
/// history always means one person).
/// </summary>
public sealed class OperatorToken : IKldloadDocument
{
    /// <summary>The name recorded as the actor of every change made with the token; the key.</summary>
    public string Name { get; set; } = string.Empty;

    public OperatorRole Role { get; set; }

    /// <summary>SHA-256 of the token's UTF-8 text.</summary>
    public byte[] Hash { get; set; } = [];

    public DateTime Created { get; set; }

    /// <summary>Who created it (an actor name).</summary>
    public string CreatedBy { get; set; } = string.Empty;

    /// <summary>Last accepted use, updated at most once a minute (<see cref="OperatorTokens.LastUsedResolution"/>).</summary>
    public DateTime? LastUsed { get; set; }

    public DateTime? Revoked { get; set; }
}

/// <summary>Who made an admin API request: the token's name and role.</summary>
public sealed record OperatorIdentity(string Name, OperatorRole Role)
{
    /// <summary>The actor name of the bootstrap token (<c>Auth:AdminTokenFile</c>); no named token may take it.</summary>
    public const string BootstrapName = "admin";
}

/// <summary>Why a token could not be created.</summary>
public enum TokenCreateProblem
{
    None,
    InvalidName,
    ReservedName,
    NameTaken,
}

/// <summary>
/// Named operator tokens (issue 23): created with a role, listed, revoked. Tokens are 32 random bytes
/// (base64url, prefixed <c>kldt_</c> so that secret scanners can spot one); only their SHA-256 is
/// stored. A check compares the presented token's hash with every live token's in constant time.
/// The live tokens are cached in memory and the cache is replaced on every change, so a revocation
/// applies to the next request; requests still running with the token are aborted
/// (<see cref="RevocationOf"/>).
/// </summary>
public sealed partial class OperatorTokens
{
    /// <summary>Last-used times are written at most this often per token (a dashboard polls every few seconds).</summary>
    public static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    /// <summary>The prefix of every named token.</summary>
    public const string TokenPrefix = "kldt_";

    private readonly IOperatorTokenStore _tokens;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _revocations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTime> _lastWritten = new(StringComparer.Ordinal);
    private OperatorToken[] _live;

    private readonly IClusterNotifications _cluster;

    /// <param name="tokens">The stored tokens.</param>
    /// <param name="time">The clock.</param>
    /// <param name="cluster">
    /// The other instances on the same database: told of each token created or revoked here, and
    /// telling this one of theirs, so a token revoked anywhere is refused everywhere at once.
    /// </param>
    public OperatorTokens(IOperatorTokenStore tokens, TimeProvider time, IClusterNotifications? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(time);
        _tokens = tokens;
        _time = time;
        _cluster = cluster ?? SingleInstanceNotifications.Instance;
        _live = LoadLive();
        _cluster.Subscribe(ClusterTopics.OperatorTokens, _ => Reload());
    }

    /// <summary>
    /// Reads the live tokens again (another instance changed them) and ends running requests of any
    /// token that is no longer live.
    /// </summary>
    public void Reload()
    {
        OperatorToken[] live;
        lock (_gate)
        {
            _live = live = LoadLive();
        }

        foreach (var (name, running) in _revocations)
        {
            if (live.All(t => t.Name != name))
            {
                running.Cancel();
            }
        }
    }

    /// <summary>True for a name a token may have: <c>[a-z0-9][a-z0-9._-]{0,62}</c>.</summary>
    public static bool IsValidName(string? name) => name is not null && NamePattern().IsMatch(name);

    /// <summary>The SHA-256 of a token's UTF-8 text: what is stored and compared.</summary>
    public static byte[] Hash(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return SHA256.HashData(Encoding.UTF8.GetBytes(token));
    }

    /// <summary>Every token, revoked ones included, by name.</summary>
    public IReadOnlyList<OperatorToken> List() => _tokens.List();

    /// <summary>
    /// Creates a token; returns its text, which is shown once and never stored. A name is never
    /// reused, not even after a revocation.
    /// </summary>
    public TokenCreateProblem TryCreate(string name, OperatorRole role, string createdBy, out OperatorToken? record, out string? token)
    {
        ArgumentNullException.ThrowIfNull(createdBy);
        record = null;
        token = null;
        if (!IsValidName(name))
        {
            return TokenCreateProblem.InvalidName;
        }

        if (name == OperatorIdentity.BootstrapName)
        {
            return TokenCreateProblem.ReservedName;
        }

        if (!Enum.IsDefined(role))
        {
            throw new ArgumentOutOfRangeException(nameof(role), role, "not a role");
        }

        var text = TokenPrefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var created = new OperatorToken
        {
            Name = name,
            Role = role,
            Hash = Hash(text),
            Created = _time.GetUtcNow().UtcDateTime,
            CreatedBy = createdBy,
        };
        lock (_gate)
        {
            if (!_tokens.TryInsert(created))
            {
                return TokenCreateProblem.NameTaken;
            }

            _live = LoadLive();
            _cluster.Publish(ClusterTopics.OperatorTokens, name);
        }

        record = created;
        token = text;
        return TokenCreateProblem.None;
    }

    /// <summary>Revokes a token now; false when no token has that name. Revoking twice keeps the first time.</summary>
    public bool Revoke(string name, out OperatorToken? record)
    {
        lock (_gate)
        {
            record = name is null ? null : _tokens.Get(name);
            if (record is null)
            {
                return false;
            }

            if (record.Revoked is null)
            {
                record.Revoked = _time.GetUtcNow().UtcDateTime;
                _tokens.Update(record);
                _live = LoadLive();
                _cluster.Publish(ClusterTopics.OperatorTokens, record.Name);
            }
        }

        if (_revocations.TryGetValue(name!, out var running))
        {
            running.Cancel();
        }

        return true;
    }

    /// <summary>
    /// The live token whose hash matches <paramref name="presented"/>, or null. Every live token is
    /// compared (no early exit), each in constant time.
    /// </summary>
    public OperatorIdentity? Authenticate(string presented)
    {
        ArgumentNullException.ThrowIfNull(presented);
        if (!presented.StartsWith(TokenPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var hash = Hash(presented);
        OperatorToken? match = null;
        foreach (var candidate in _live)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, candidate.Hash))
            {
                match = candidate;
            }
        }

        if (match is null)
        {
            return null;
        }

        RecordUse(match);
        return new OperatorIdentity(match.Name, match.Role);
    }

    /// <summary>Cancelled when the token <paramref name="name"/> is revoked: long requests made with it end then.</summary>
    public CancellationToken RevocationOf(string name)
    {
        var source = _revocations.GetOrAdd(name, _ => new CancellationTokenSource());
        // A revocation that raced this call: the source it would have cancelled did not exist yet.
        if (_live.All(t => t.Name != name))
        {
            source.Cancel();
        }

        return source.Token;
    }

    private void RecordUse(OperatorToken live)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var last = _lastWritten.GetOrAdd(live.Name, live.LastUsed ?? DateTime.MinValue);
        if (now - last < LastUsedResolution)
        {
            return;
        }

        lock (_gate)
        {
            // Read again: a revocation may have written the record meanwhile.
            if (_tokens.Get(live.Name) is { Revoked: null } stored)
            {
                stored.LastUsed = now;
                _tokens.Update(stored);
            }

            _lastWritten[live.Name] = now;
        }
    }

    private OperatorToken[] LoadLive() => [.. _tokens.List().Where(t => t.Revoked is null)];

    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]{0,62}\z", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
