using System.Net;
using Kldload.Provisioner.Inventory;
using Prometheus;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// The last step of attestation: the node reached the hub through its tunnel, so it is Ready, and
/// the time from its first DHCP packet to mesh-ready is recorded.
/// </summary>
public sealed class ReadyStep(NodeService nodes, AttestationSessionStore sessions, AttestationRecorder recorder, TimeProvider time)
{
    private static readonly Histogram TimeToMesh = Metrics.CreateHistogram(
        "kldload_boot_to_mesh_seconds",
        "Seconds from a node's first DHCP packet (or script request) to mesh-ready.",
        new HistogramConfiguration { Buckets = [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600] });

    /// <summary>Step 4: the node reached the hub through its tunnel; it is Ready.</summary>
    public ReadyResponse Ready(ReadyRequest request, IPAddress? remote, bool hubRunning)
    {
        ArgumentNullException.ThrowIfNull(request);
        // The lookups and the transition in one transaction: one opening of the shared database.
        return nodes.Atomically(() => ReadyLocked(request, remote, hubRunning));
    }

    private ReadyResponse ReadyLocked(ReadyRequest request, IPAddress? remote, bool hubRunning)
    {
        var session = sessions.Find(request.SessionId, AttestationSessionState.Activated)
            ?? throw recorder.Refuse(new AttestationRefusedException("ready", "session-invalid", "unknown or expired session"), null, null, remote);
        var node = nodes.Store.Get(session.ResolvedNodeId ?? session.NodeId)!;
        if (node.State == NodeState.Ready)
        {
            return new ReadyResponse(node.Id, node.State.ToString(), node.LastBootToMeshSeconds);
        }

        if (node.State != NodeState.Attested)
        {
            throw recorder.Refuse(new AttestationRefusedException("ready", "not-attested", $"node {node.Id} is {node.State}, not Attested"), null, null, remote);
        }

        var mapped = remote?.IsIPv4MappedToIPv6 == true ? remote.MapToIPv4() : remote;
        var viaMesh = mapped is not null && (mapped.ToString() == node.MeshAddress || mapped.ToString() == node.MeshAddress4);
        if (hubRunning && !viaMesh)
        {
            throw recorder.Refuse(new AttestationRefusedException("ready", "not-via-mesh", $"ready must arrive through the mesh from {node.MeshAddress}, not from {mapped}"), null, null, remote);
        }

        var now = time.GetUtcNow().UtcDateTime;
        double? seconds = node.BootStartedAt is { } started ? Math.Round((now - started).TotalSeconds, 1) : null;
        node = nodes.Transition(node.Id, NodeState.Ready, "node",
            seconds is { } s ? $"on the mesh {(viaMesh ? "(reached the hub through the tunnel)" : "(hub not running)")}: {s:0.0} s from first DHCP packet to mesh-ready" : "on the mesh",
            n => n.LastBootToMeshSeconds = seconds);
        if (seconds is { } value)
        {
            TimeToMesh.Observe(value);
        }

        recorder.Count("ready", "ok", "none");
        return new ReadyResponse(node.Id, node.State.ToString(), seconds);
    }
}
