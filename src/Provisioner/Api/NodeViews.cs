using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Api;

/// <summary>A node as the admin API shows it (<c>GET /api/v1/nodes</c>).</summary>
public sealed record NodeView(
    string Id,
    string Name,
    IReadOnlyList<string> Macs,
    NodeState State,
    string? StateReason,
    string? Uuid,
    string? Serial,
    string? Manufacturer,
    string? Product,
    string? Architecture,
    string? Platform,
    string? EkFingerprint,
    bool EkApproved,
    bool HasEkCertificate,
    string? WireguardPublicKey,
    string? MeshAddress,
    string? MeshAddress4,
    string? Profile,
    string? Channel,
    string? PinnedImage,
    string? LastBootedImage,
    string? LastAttestedImageDigest,
    bool? KernelMeasured,
    DateTime FirstSeenAt,
    DateTime LastSeenAt,
    DateTime? LastBootAt,
    double? LastBootToMeshSeconds,
    string? CircuitId,
    string? RemoteId,
    IReadOnlyDictionary<string, string> Labels,
    string? ReplacedBy,
    string? Replaces)
{
    public static NodeView From(NodeRecord n)
    {
        ArgumentNullException.ThrowIfNull(n);
        return new NodeView(
            n.Id, n.Name, n.Macs, n.State, n.StateReason, n.Uuid, n.Serial, n.Manufacturer, n.Product, n.Architecture, n.Platform,
            n.EkFingerprint, n.EkApproved, n.EkCertificate is not null, n.WireGuardPublicKey, n.MeshAddress, n.MeshAddress4,
            n.Profile, n.Channel, n.PinnedImage?.ToString(), n.LastBootedImage?.ToString(), n.LastAttestedImageDigest, n.KernelMeasured,
            Utc(n.FirstSeenAt), Utc(n.LastSeenAt), n.LastBootAt is { } b ? Utc(b) : null, n.LastBootToMeshSeconds,
            n.Location?.CircuitId, n.Location?.RemoteId, n.Labels, n.ReplacedBy, n.Replaces);
    }

    internal static DateTime Utc(DateTime t) => t.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : t.ToUniversalTime();
}

/// <summary>A history entry as the admin API shows it.</summary>
public sealed record NodeEventView(long Id, string NodeId, DateTime At, NodeEventKind Kind, string Message, string Actor, string? Reason)
{
    public static NodeEventView From(NodeEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return new NodeEventView(e.Id, e.NodeId, NodeView.Utc(e.At), e.Kind, e.Message, e.Actor, e.Reason);
    }
}

/// <summary>Body of <c>POST /api/v1/nodes/{id}/reimage</c>: a channel, or an image name and version.</summary>
public sealed record ReimageRequest(string? Channel, string? ImageName, string? ImageVersion);

/// <summary>Body of <c>POST /api/v1/nodes/{id}/replace</c>: the new hardware's node id (or name or MAC).</summary>
public sealed record ReplaceRequest(string With);

/// <summary>Body of <c>PATCH /api/v1/nodes/{id}</c>.</summary>
public sealed record NodePatch(string? Name, Dictionary<string, string>? Labels);

/// <summary>Body of the operator actions that take only a note.</summary>
public sealed record ActionNote(string? Note);
