using System.Globalization;
using System.Net;
using Kldload.Contracts;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// The last step of attestation: the node reached the hub through its tunnel, so it is Ready, and
/// the time from its first DHCP packet to mesh-ready is recorded. When the boot asked for a burn-in
/// (<c>kldload.burnin=N</c>), ready must carry its result: recorded as an event, and a failed one
/// quarantines the node instead. The result is the node's own report: it never raises trust.
/// </summary>
public sealed class ReadyStep(NodeService nodes, IAttestationSessionStore sessions, AttestationRecorder recorder, IAttestationObserver observer, TimeProvider time, IProfileStore profiles, InstallSettings install)
{
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
            return new ReadyResponse(node.Id, node.State.ToString(), node.LastBootToMeshSeconds, InstallFor(node));
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

        if (node.BurnInSeconds is { } asked && request.BurnIn is null)
        {
            throw recorder.Refuse(new AttestationRefusedException("ready", "burn-in-missing",
                $"node {node.Id} booted with kldload.burnin={asked} (profile {node.Profile}) but ready carries no burnIn result; the agent must run the burn-in before ready"), null, null, remote);
        }

        if (request.BurnIn is { } burnIn)
        {
            var summary = Summary(burnIn);
            nodes.Record(node, NodeEventKind.Hardware, $"burn-in (self-reported): {summary}", "node", burnIn.Failed ? "burn-in-failed" : "burn-in-passed");
            if (burnIn.Failed)
            {
                node = nodes.Transition(node.Id, NodeState.Quarantined, "node", $"burn-in-failed: {Clean(burnIn.Detail) ?? summary}");
                recorder.Count("ready", "quarantined", "burn-in-failed");
                return new ReadyResponse(node.Id, node.State.ToString(), node.LastBootToMeshSeconds);
            }
        }

        var now = time.GetUtcNow().UtcDateTime;
        double? seconds = node.BootStartedAt is { } started ? Math.Round((now - started).TotalSeconds, 1) : null;
        node = nodes.Transition(node.Id, NodeState.Ready, "node",
            seconds is { } s ? $"on the mesh {(viaMesh ? "(reached the hub through the tunnel)" : "(hub not running)")}: {s:0.0} s from first DHCP packet to mesh-ready" : "on the mesh",
            n => n.LastBootToMeshSeconds = seconds);
        if (seconds is { } value)
        {
            observer.ReachedMesh(value);
        }

        recorder.Count("ready", "ok", "none");
        return new ReadyResponse(node.Id, node.State.ToString(), seconds, InstallFor(node));
    }

    /// <summary>The install block of the profile the node booted with, as the agent receives it; null when none.</summary>
    private InstallRequest? InstallFor(NodeRecord node) =>
        node.Profile is { } name && profiles.Get(name)?.Install is { Target: { } target, Disks: { } disks }
            ? new InstallRequest(target, disks.IsAuto, disks.IsAuto ? null : disks.Paths, install.KeepEnvironments)
            : null;

    /// <summary>One line for the event: the parts, the disks and the node's detail.</summary>
    private static string Summary(BurnInReport r)
    {
        var disks = r.Disks is null || r.Disks.Count == 0
            ? "no disks"
            : string.Join(", ", r.Disks.Take(32).Select(d => $"{Clean(d.Name) ?? "?"} {d.BytesRead} bytes, {d.Errors} errors"));
        return string.Create(CultureInfo.InvariantCulture,
            $"{(r.Failed ? "failed" : "passed")} in {r.Seconds:0.#} s; cpu {(r.CpuOk ? "ok" : "FAILED")}, memory {(r.MemoryOk ? "ok" : "FAILED")}; {disks}{(Clean(r.Detail) is { } d2 ? "; " + d2 : string.Empty)}");
    }

    /// <summary>Node-supplied text: printable, one line, at most 200 characters; null when empty.</summary>
    private static string? Clean(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var printable = new string(text.Where(c => !char.IsControl(c)).ToArray()).Trim();
        return printable.Length <= 200 ? printable : printable[..200];
    }
}
