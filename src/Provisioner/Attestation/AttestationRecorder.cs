using System.Net;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// What the attestation steps report: outcomes told to the <see cref="IAttestationObserver"/> (the host counts
/// them in <c>kldload_attestations_total</c>), refusals
/// recorded on the session and, when a node is named, in that node's history with the source address.
/// </summary>
public sealed class AttestationRecorder(NodeService nodes, IAttestationSessionStore sessions, IAttestationObserver observer)
{
    public void Count(string step, string outcome, string reason) => observer.StepEnded(step, outcome, reason);

    /// <summary>Counts the differences one attested boot's facts showed (the host's <c>kldload_hardware_changes_total{part}</c>).</summary>
    public void CountHardwareChanges(IEnumerable<HardwareDifference> changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        foreach (var change in changes)
        {
            observer.HardwareChanged(change.Part);
        }
    }

    /// <summary>Records and counts a refusal; before proof it changes nothing but the session.</summary>
    public AttestationRefusedException Refuse(AttestationRefusedException refusal, AttestationSession? session, string? nodeId, IPAddress? source)
    {
        Count(refusal.Step, "refused", refusal.Reason);
        if (session is not null)
        {
            session.State = AttestationSessionState.Failed;
            session.Secret = null;
            session.ClosedBecause ??= refusal.Reason;
            sessions.Save(session);
        }

        if (nodeId is not null && nodes.Store.Get(nodeId) is { } node)
        {
            nodes.Record(node, NodeEventKind.Attestation,
                $"attestation {refusal.Step} refused (from {source?.ToString() ?? "unknown"}{(session is null ? string.Empty : $", session {session.Id[..8]}")}): {refusal.Message}", "node", refusal.Reason);
        }

        return refusal;
    }
}
