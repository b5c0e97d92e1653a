namespace Kldload.Provisioner.Attestation;

/// <summary>
/// EKs that must never attest again (decommissioned nodes, replaced hardware), by EK fingerprint.
/// Implementations: <see cref="LiteDbRevokedEkStore"/>, <see cref="PostgresRevokedEkStore"/>.
/// </summary>
public interface IRevokedEkStore
{
    /// <summary>Revokes the EK, or replaces the node, reason and time of an earlier revocation of it.</summary>
    void Revoke(string fingerprint, string nodeId, string why, DateTime at);

    /// <summary>Whether the EK is revoked, and if so why (a key lookup: asked at every quote and activate).</summary>
    bool IsRevoked(string fingerprint, out string? why);
}

/// <summary>One revoked endorsement key, as <c>kldload db migrate</c> copies it.</summary>
public sealed record RevokedEk(string Fingerprint, string NodeId, string Why, DateTime At);
