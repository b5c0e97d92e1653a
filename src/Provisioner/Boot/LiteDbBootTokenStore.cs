using Kldload.Provisioner.Storage;
using LiteDB;

namespace Kldload.Provisioner.Boot;

/// <summary>Boot tokens in kldload.db (collection <c>boottokens</c>: the token text is <c>_id</c>; indexes on expiry and node).</summary>
public sealed class LiteDbBootTokenStore : IBootTokenStore, ILiteDbMapping
{
    private readonly ILiteCollection<BootToken> _tokens;

    public LiteDbBootTokenStore(IKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _tokens = database.Database.GetCollection<BootToken>("boottokens");
        _tokens.EnsureIndex(t => t.ExpiresAt);
        _tokens.EnsureIndex(t => t.NodeId);
    }

    /// <summary>The key of a token is its text.</summary>
    public static void Configure(BsonMapper mapper)
    {
        ArgumentNullException.ThrowIfNull(mapper);
        mapper.Entity<BootToken>().Id(t => t.Token);
    }

    public void Insert(BootToken token) => _tokens.Insert(token);

    /// <summary>
    /// The key lookup, then an exact comparison: LiteDB compares strings without case by default, and
    /// a token's base64url text is case-sensitive.
    /// </summary>
    public BootToken? Find(string token) =>
        _tokens.FindById(token) is { } found && string.Equals(found.Token, token, StringComparison.Ordinal) ? found : null;

    public bool Update(BootToken token) => _tokens.Update(token);

    public int DeleteExpiredBefore(DateTime cutoff) => _tokens.DeleteMany(t => t.ExpiresAt < cutoff);

    public int ExpireOpen(string nodeId, DateTime now)
    {
        var closed = 0;
        foreach (var token in _tokens.Find(t => t.NodeId == nodeId && t.CompletedAt == null && t.ExpiresAt > now).ToList())
        {
            token.ExpiresAt = now;
            _tokens.Update(token);
            closed++;
        }

        return closed;
    }

    /// <summary>Every token: for <c>kldload db migrate</c>.</summary>
    public IReadOnlyList<BootToken> All() => [.. _tokens.FindAll()];
}
