using Kldload.MeshCA;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Attestation;

/// <summary>What activate does with a proven session, before any mesh effect.</summary>
/// <param name="Node">The record the TPM's identity landed on, after the transition (if any).</param>
/// <param name="Quarantined">The verdict (or a hardware change under <c>Inventory:HardwareChange=Quarantine</c>) holds the node.</param>
/// <param name="Pending">The node waits in Enrolling for <c>kldload nodes approve</c>.</param>
/// <param name="Review">Hardware differences from the last attested boot.</param>
public readonly record struct Admission(NodeRecord Node, bool Quarantined, bool Pending, HardwareReview Review);

/// <summary>
/// The first half of applying a proven session: which record the TPM's identity lands on, and whether
/// the appraisal's verdict admits the node, holds it for an operator or quarantines it. It runs inside
/// the caller's inventory transaction; the mesh enrolment and the Attested transition follow only when
/// the node is admitted.
/// </summary>
public sealed class AttestationAdmission(NodeService nodes, NodeIdentities identities, IAttestationSessionStore sessions, HardwareInventory hardware, TimeProvider time)
{
    public Admission Decide(AttestationSession session)
    {
        var fingerprint = session.EkFingerprint!;
        var outcome = session.Outcome;
        var node = identities.ResolveProven(session.NodeId, session.Mac, fingerprint);
        if (NodeTransitions.IsTerminal(node.State))
        {
            throw new AttestationRefusedException("activate", "node-closed", $"node {node.Id} is {node.State}: it never attests again");
        }

        session.ResolvedNodeId = node.Id;
        if (outcome == AttestationOutcome.Quarantine)
        {
            node = nodes.Transition(node.Id, NodeState.Quarantined, "node", $"{session.OutcomeReason}: {session.OutcomeDetail}", n => ProvenRecord.BindEk(n, session, approved: n.EkApproved && n.EkFingerprint == fingerprint));
            session.ClosedBecause = session.OutcomeReason;
            sessions.Save(session);
            return new Admission(node, true, false, HardwareReview.None);
        }

        if (outcome == AttestationOutcome.AwaitApproval && session.OutcomeReason == "firmware-drift")
        {
            var approvedEk = node.EkApproved && node.EkFingerprint == fingerprint;
            node = nodes.Transition(node.Id, NodeState.Enrolling, "node", $"{session.Drift}; waits for an operator (Attestation:FirmwareDrift=Approve): kldload nodes approve {node.Id}", n => ProvenRecord.BindEk(n, session, approved: approvedEk));
            nodes.Record(node, NodeEventKind.Attestation, session.Drift!, "node", "firmware-drift");
            sessions.Save(session);
            return new Admission(node, false, true, HardwareReview.None);
        }

        var approved = outcome == AttestationOutcome.Admit || (node.EkApproved && node.EkFingerprint == fingerprint);
        if (!approved)
        {
            node = nodes.Transition(node.Id, NodeState.Enrolling, "node", "new EK proven by the TPM; waits for an operator: kldload nodes approve " + node.Id, n => ProvenRecord.BindEk(n, session, approved: false));
            sessions.Save(session);
            return new Admission(node, false, true, HardwareReview.None);
        }

        if (node.State == NodeState.Quarantined)
        {
            throw new AttestationRefusedException("activate", "quarantined", $"node {node.Id} is quarantined ({node.StateReason}); an operator must approve it first");
        }

        // Proven facts that differ from the last attested boot's: recorded, or held (Inventory:HardwareChange).
        var review = hardware.Review(node, session.Facts, session.FactsBound);
        if (review.Hold)
        {
            session.OutcomeReason = session.ClosedBecause = "hardware-change";
            session.OutcomeDetail = $"hardware changed: {review.Summary}; waits for an operator (Inventory:HardwareChange=Quarantine): kldload nodes approve {node.Id}";
            node = nodes.Transition(node.Id, NodeState.Quarantined, "node", session.OutcomeDetail, n => hardware.Store(n, session.Id, session.Facts!, true, time.GetUtcNow().UtcDateTime));
            sessions.Save(session);
            return new Admission(node, true, false, review);
        }

        sessions.Save(session);
        return new Admission(node, false, false, review);
    }
}

/// <summary>What a proven attestation writes on the node's record.</summary>
internal static class ProvenRecord
{
    /// <summary>The EK the TPM proved it holds (approved or not).</summary>
    public static void BindEk(NodeRecord n, AttestationSession session, bool approved)
    {
        n.EkPublic = Convert.ToBase64String(session.EkPublic!);
        n.EkFingerprint = session.EkFingerprint;
        n.EkCertificate = session.EkCertificate is null ? n.EkCertificate : Convert.ToBase64String(session.EkCertificate);
        n.EkApproved = approved;
    }

    /// <summary>An admitted node: its keys, mesh addresses, measured-boot findings and firmware pins.</summary>
    public static void Attested(NodeRecord n, AttestationSession session, MeshEnrollment enrollment, BootToken token, DateTime now)
    {
        BindEk(n, session, approved: true);
        n.AkPublic = Convert.ToBase64String(session.AkPublic!);
        n.WireGuardPublicKey = WireGuardKey.ToBase64(session.WireGuardPublicKey!);
        n.MeshAddress = enrollment.Addresses.Address6.ToString();
        n.MeshAddress4 = enrollment.Addresses.Address4?.ToString();
        n.KernelMeasured = session.KernelMeasured;
        n.RepinPending = false;
        n.CommandLineMeasured = session.CommandLineMeasured;
        n.SecureBoot = session.SecureBoot;
        n.SecureBootSigners = session.SecureBootSigners;
        n.InitrdMeasured = session.InitrdMeasured;
        n.ConfigurationPcrs = session.ConfigurationPcrs;
        if (n.PinnedPcrs is not { Count: > 0 } || session.Drift is not null)
        {
            n.PinnedPcrs = session.FirmwarePcrs;
        }

        n.LastAttestedImageDigest = token.KernelDigest ?? n.LastBootedKernelDigest;
        n.LastBootAt = now;
    }
}
