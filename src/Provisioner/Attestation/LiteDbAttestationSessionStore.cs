using Kldload.Provisioner.Storage;
using LiteDB;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// Attestation sessions in LiteDB, collection <c>attestsessions</c>: one document per session, keyed
/// <c>_id</c> by <see cref="AttestationSession.Id"/>, with indexes on <c>ExpiresAt</c> (the sweep),
/// <c>NodeId</c> and <c>EkFingerprint</c> (closing a node's sessions).
/// </summary>
public sealed class LiteDbAttestationSessionStore : IAttestationSessionStore
{
    /// <summary>
    /// The map of <see cref="AttestationSession"/>, of this store alone: built whole, under this lazy,
    /// before any document is read (LiteDB publishes a type's map before it is complete, so two threads
    /// mapping one type for the first time can see half of it). The fields are those the attributed
    /// type had, so documents written before keep reading.
    /// </summary>
    private static readonly Lazy<BsonMapper> Mapper = new(() =>
    {
        var mapper = new BsonMapper();
        mapper.Entity<AttestationSession>().Id(s => s.Id, autoId: false);
        _ = mapper.ToDocument(new AttestationSession());
        return mapper;
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly ILiteCollection<BsonDocument> _sessions;
    private readonly BsonMapper _mapper = Mapper.Value;
    private readonly TimeProvider _time;

    private readonly Lock _gate = new();

    public LiteDbAttestationSessionStore(IKldloadDatabase database, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(time);
        _sessions = database.Database.GetCollection("attestsessions");
        // The names and expressions a typed collection gave these indexes (s => s.ExpiresAt, ...).
        _sessions.EnsureIndex("ExpiresAt", "$.ExpiresAt");
        _sessions.EnsureIndex("NodeId", "$.NodeId");
        _sessions.EnsureIndex("EkFingerprint", "$.EkFingerprint");
        _time = time;
    }

    public AttestationSession Open(string nodeId, string token, string mac, TimeSpan lifetime)
    {
        var session = AttestationSession.Challenge(nodeId, token, mac, Now, lifetime);
        _sessions.Insert(_mapper.ToDocument(session));
        return session;
    }

    public int DeleteExpired() => _sessions.DeleteMany("$.ExpiresAt < @0", Now - TimeSpan.FromDays(1));

    public AttestationSession? Find(string? id, AttestationSessionState expected)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 64)
        {
            return null;
        }

        var s = _sessions.FindById(id) is { } doc ? _mapper.ToObject<AttestationSession>(doc) : null;
        return s is not null && s.State == expected && s.ExpiresAt > Now ? s : null;
    }

    public AttestationSession? Take(string? id, AttestationSessionState expected, AttestationSessionState next)
    {
        lock (_gate)
        {
            var session = Find(id, expected);
            if (session is null)
            {
                return null;
            }

            session.State = next;
            _sessions.Update(_mapper.ToDocument(session));
            return session;
        }
    }

    public void Save(AttestationSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        _sessions.Update(_mapper.ToDocument(session));
    }

    public AttestationSession? LastProven(string nodeId, string ekFingerprint) =>
        _sessions.Find(BsonExpression.Create("$.EkFingerprint = @0", ekFingerprint))
            .Select(_mapper.ToObject<AttestationSession>)
            .Where(s => s.State == AttestationSessionState.Activated && s.ResolvedNodeId == nodeId)
            .MaxBy(s => s.CreatedAt);

    public int CloseFor(string nodeId, string? ekFingerprint, string why)
    {
        lock (_gate)
        {
            var open = _sessions.Find(BsonExpression.Create("$.NodeId = @0", nodeId)).ToList();
            if (ekFingerprint is not null)
            {
                open.AddRange(_sessions.Find(BsonExpression.Create("$.EkFingerprint = @0", ekFingerprint)));
            }

            var closed = 0;
            foreach (var s in open.Select(_mapper.ToObject<AttestationSession>)
                .Where(s => s.State is AttestationSessionState.Challenged or AttestationSessionState.Quoted)
                .DistinctBy(s => s.Id))
            {
                s.State = AttestationSessionState.Failed;
                s.Secret = null;
                s.ClosedBecause = why;
                _sessions.Update(_mapper.ToDocument(s));
                closed++;
            }

            return closed;
        }
    }

    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    /// <summary>Every session, whatever its state: for <c>kldload db migrate</c>.</summary>
    public IReadOnlyList<AttestationSession> All() => [.. _sessions.FindAll().Select(_mapper.ToObject<AttestationSession>)];
}
