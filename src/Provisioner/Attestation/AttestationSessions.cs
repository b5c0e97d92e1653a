using System.Security.Cryptography;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Hosting;
using LiteDB;

namespace Kldload.Provisioner.Attestation;

/// <summary>Where a session is in the three-step exchange.</summary>
public enum AttestationSessionState
{
    Challenged,
    Quoted,
    Activated,
    Failed,
}

/// <summary>
/// One attestation exchange. Kept in LiteDB (collection <c>attestsessions</c>) so a restart of
/// kldload in the middle of a node's attestation loses nothing. Single use: each step moves it on.
/// </summary>
public sealed class AttestationSession
{
    [BsonId]
    public string Id { get; set; } = string.Empty;

    public string NodeId { get; set; } = string.Empty;

    public string BootToken { get; set; } = string.Empty;

    public string Mac { get; set; } = string.Empty;

    public byte[] Nonce { get; set; } = [];

    public DateTime CreatedAt { get; set; }

    public DateTime ExpiresAt { get; set; }

    public AttestationSessionState State { get; set; }

    /// <summary>The credential secret between quote and activate; cleared once used.</summary>
    public byte[]? Secret { get; set; }

    public byte[]? EkPublic { get; set; }

    public string? EkFingerprint { get; set; }

    public byte[]? EkCertificate { get; set; }

    public byte[]? AkPublic { get; set; }

    public byte[]? WireGuardPublicKey { get; set; }

    public bool? KernelMeasured { get; set; }

    /// <summary>The enrollment policy already accepted the EK when the quote was checked.</summary>
    public bool EkAccepted { get; set; }
}

/// <summary>Attestation sessions in LiteDB.</summary>
public sealed class AttestationSessionStore
{
    private readonly ILiteCollection<AttestationSession> _sessions;
    private readonly TimeProvider _time;

    public AttestationSessionStore(IKldloadDatabase database, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(database);
        _sessions = database.Database.GetCollection<AttestationSession>("attestsessions");
        _sessions.EnsureIndex(s => s.ExpiresAt);
        _time = time;
    }

    public AttestationSession Open(string nodeId, string token, string mac, TimeSpan lifetime)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var session = new AttestationSession
        {
            Id = BootTokenStore.Base64Url(RandomNumberGenerator.GetBytes(18)),
            NodeId = nodeId,
            BootToken = token,
            Mac = mac,
            Nonce = RandomNumberGenerator.GetBytes(32),
            CreatedAt = now,
            ExpiresAt = now + lifetime,
            State = AttestationSessionState.Challenged,
        };
        _sessions.Insert(session);
        _sessions.DeleteMany(s => s.ExpiresAt < now - TimeSpan.FromDays(1));
        return session;
    }

    /// <summary>The session if it exists, has not expired and is in <paramref name="expected"/>.</summary>
    public AttestationSession? Find(string? id, AttestationSessionState expected)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 64)
        {
            return null;
        }

        var s = _sessions.FindById(id);
        return s is not null && s.State == expected && s.ExpiresAt > _time.GetUtcNow().UtcDateTime ? s : null;
    }

    public void Save(AttestationSession session) => _sessions.Update(session);
}

/// <summary>EKs that must never attest again (decommissioned nodes, replaced hardware). Collection <c>revokedeks</c>.</summary>
public sealed class RevokedEkStore
{
    private readonly ILiteCollection<BsonDocument> _revoked;

    public RevokedEkStore(IKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _revoked = database.Database.GetCollection("revokedeks");
    }

    public void Revoke(string fingerprint, string nodeId, string why, DateTime at) =>
        _revoked.Upsert(new BsonDocument { ["_id"] = fingerprint, ["nodeId"] = nodeId, ["why"] = why, ["at"] = at });

    public bool IsRevoked(string fingerprint, out string? why)
    {
        var doc = _revoked.FindById(fingerprint);
        why = doc?["why"].AsString;
        return doc is not null;
    }
}
