using System.Buffers.Text;
using System.Security.Cryptography;
using Kldload.Provisioner.Storage;
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
public sealed class AttestationSession : IKldloadDocument
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

    /// <summary>The appraisal's outcome, applied only once activate proves the TPM holds the EK.</summary>
    public AttestationOutcome Outcome { get; set; }

    /// <summary>For <see cref="AttestationOutcome.Quarantine"/>: the reason and the sentence.</summary>
    public string? OutcomeReason { get; set; }

    public string? OutcomeDetail { get; set; }

    public bool CommandLineMeasured { get; set; }

    /// <summary>PCR 7's SecureBoot variable as measured in this boot; null when not appraised.</summary>
    public bool? SecureBoot { get; set; }

    /// <summary>The authorities PCR 7 says verified the images this boot started.</summary>
    public List<string>? SecureBootSigners { get; set; }

    public bool InitrdMeasured { get; set; }

    public Dictionary<int, string>? FirmwarePcrs { get; set; }

    public Dictionary<int, string>? ConfigurationPcrs { get; set; }

    /// <summary>Pinned firmware PCRs that changed (accepted, awaiting approval or quarantined), described.</summary>
    public string? Drift { get; set; }

    /// <summary>The node's facts as sent with the quote (RFC 8785 canonical JSON); null when none were sent.</summary>
    public string? Facts { get; set; }

    /// <summary>Whether the quote bound <see cref="Facts"/> (the new qualifying-data form).</summary>
    public bool FactsBound { get; set; }

    /// <summary>The record the proven TPM resolved to at activate (may differ from <see cref="NodeId"/>).</summary>
    public string? ResolvedNodeId { get; set; }

    /// <summary>Why the session was closed before completing (refusal, decommission, replace).</summary>
    public string? ClosedBecause { get; set; }
}

/// <summary>Attestation sessions in LiteDB.</summary>
public sealed class AttestationSessionStore
{
    private readonly ILiteCollection<AttestationSession> _sessions;
    private readonly TimeProvider _time;

    private readonly Lock _gate = new();

    public AttestationSessionStore(IKldloadDatabase database, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(database);
        _sessions = database.Database.GetCollection<AttestationSession>("attestsessions");
        _sessions.EnsureIndex(s => s.ExpiresAt);
        _sessions.EnsureIndex(s => s.NodeId);
        _sessions.EnsureIndex(s => s.EkFingerprint);
        _time = time;
    }

    public AttestationSession Open(string nodeId, string token, string mac, TimeSpan lifetime)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var session = new AttestationSession
        {
            Id = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(18)),
            NodeId = nodeId,
            BootToken = token,
            Mac = mac,
            Nonce = RandomNumberGenerator.GetBytes(32),
            CreatedAt = now,
            ExpiresAt = now + lifetime,
            State = AttestationSessionState.Challenged,
        };
        _sessions.Insert(session);
        return session;
    }

    /// <summary>Deletes sessions that expired more than a day ago (run in the background, not per request).</summary>
    public int DeleteExpired() => _sessions.DeleteMany(s => s.ExpiresAt < _time.GetUtcNow().UtcDateTime - TimeSpan.FromDays(1));

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

    /// <summary>
    /// Takes the session for one step: if it exists, has not expired and is in <paramref name="expected"/>,
    /// it moves to <paramref name="next"/> at once, so two concurrent requests never both use it.
    /// </summary>
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
            _sessions.Update(session);
            return session;
        }
    }

    public void Save(AttestationSession session) => _sessions.Update(session);

    /// <summary>Closes every open session of a node (by the node that opened it, or by its EK): decommission and replace.</summary>
    public int CloseFor(string nodeId, string? ekFingerprint, string why)
    {
        lock (_gate)
        {
            var open = _sessions.Find(s => s.NodeId == nodeId).ToList();
            if (ekFingerprint is not null)
            {
                open.AddRange(_sessions.Find(s => s.EkFingerprint == ekFingerprint));
            }

            var closed = 0;
            foreach (var s in open.Where(s => s.State is AttestationSessionState.Challenged or AttestationSessionState.Quoted).DistinctBy(s => s.Id))
            {
                s.State = AttestationSessionState.Failed;
                s.Secret = null;
                s.ClosedBecause = why;
                _sessions.Update(s);
                closed++;
            }

            return closed;
        }
    }
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
