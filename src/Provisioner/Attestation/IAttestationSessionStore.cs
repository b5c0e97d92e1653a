namespace Kldload.Provisioner.Attestation;

/// <summary>
/// Attestation sessions, by id: on the attestation hot path, so every lookup by id is a key lookup and
/// the expiry sweep goes by an indexed time. Times come from the store's <see cref="TimeProvider"/>.
/// Implementations: <see cref="LiteDbAttestationSessionStore"/>, <see cref="PostgresAttestationSessionStore"/>.
/// </summary>
public interface IAttestationSessionStore
{
    /// <summary>Stores and returns a new <see cref="AttestationSessionState.Challenged"/> session with a fresh id and nonce.</summary>
    AttestationSession Open(string nodeId, string token, string mac, TimeSpan lifetime);

    /// <summary>The session if it exists, has not expired and is in <paramref name="expected"/>; null otherwise (and for a null, empty or over-long id).</summary>
    AttestationSession? Find(string? id, AttestationSessionState expected);

    /// <summary>
    /// Takes the session for one step: if it exists, has not expired and is in <paramref name="expected"/>,
    /// it moves to <paramref name="next"/> at once and is returned in that state, so two concurrent
    /// requests (or two instances) never both use it. Null otherwise.
    /// </summary>
    AttestationSession? Take(string? id, AttestationSessionState expected, AttestationSessionState next);

    /// <summary>Writes every field of an existing session; a session the store does not hold is not created.</summary>
    void Save(AttestationSession session);

    /// <summary>
    /// Closes every open (<see cref="AttestationSessionState.Challenged"/> or <see cref="AttestationSessionState.Quoted"/>)
    /// session of a node, by the node that opened it or by its EK: each becomes <see cref="AttestationSessionState.Failed"/>,
    /// loses its secret and records <paramref name="why"/>. Returns how many were closed. Decommission and replace.
    /// </summary>
    int CloseFor(string nodeId, string? ekFingerprint, string why);

    /// <summary>
    /// The newest session whose TPM proved it holds <paramref name="ekFingerprint"/> (activate passed:
    /// <see cref="AttestationSessionState.Activated"/>) and that landed on node <paramref name="nodeId"/>,
    /// expired or not, until the sweep deletes it; null when none. What an operator is shown before
    /// approving a node that waits in Enrolling: the facts that node sent.
    /// </summary>
    AttestationSession? LastProven(string nodeId, string ekFingerprint);

    /// <summary>Deletes sessions that expired more than a day ago (run in the background, not per request); returns how many.</summary>
    int DeleteExpired();
}
