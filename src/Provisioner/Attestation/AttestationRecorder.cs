using System.Net;
using Kldload.Provisioner.Inventory;
using Prometheus;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// What the attestation steps report: outcomes counted in <c>kldload_attestations_total</c>, refusals
/// recorded on the session and, when a node is named, in that node's history with the source address.
/// </summary>
public sealed class AttestationRecorder(NodeService nodes, IAttestationSessionStore sessions)
{
    private static readonly Counter Outcomes = Metrics.CreateCounter("kldload_attestations_total", "Attestation steps by outcome and reason.", "step", "outcome", "reason");

    private static readonly Counter HardwareChanges = Metrics.CreateCounter("kldload_hardware_changes_total", "Differences in a node's hardware facts between attested boots, by part.", "part");

    public void Count(string step, string outcome, string reason) => Outcomes.WithLabels(step, outcome, reason).Inc();

    /// <summary>Counts the differences one attested boot's facts showed (<c>kldload_hardware_changes_total{part}</c>).</summary>
    public void CountHardwareChanges(IEnumerable<HardwareDifference> changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        foreach (var change in changes)
        {
            HardwareChanges.WithLabels(change.Part).Inc();
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
