using System.Buffers.Text;
using System.Security.Cryptography;
using Kldload.Provisioner.Storage;

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
/// One attestation exchange. Kept in the database (<see cref="IAttestationSessionStore"/>) so a restart
/// of kldload in the middle of a node's attestation loses nothing. Single use: each step moves it on.
/// </summary>
public sealed class AttestationSession : IKldloadDocument
{
    /// <summary>Random, 24 base64url characters: the only key a node presents.</summary>
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

    /// <summary>A new session in <see cref="AttestationSessionState.Challenged"/> with a fresh random id and nonce.</summary>
    public static AttestationSession Challenge(string nodeId, string token, string mac, DateTime now, TimeSpan lifetime) => new()
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
}
