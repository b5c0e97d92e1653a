using System.Net;

namespace Kldload.MeshCA.Distribution;

/// <summary>An attested node on the mesh: its current WireGuard key and its mesh addresses.</summary>
public sealed record MeshMember
{
    public required string NodeId { get; init; }

    /// <summary>The node's current X25519 public key.</summary>
    public required byte[] PublicKey { get; init; }

    /// <summary>The key epoch the node derived <see cref="PublicKey"/> with.</summary>
    public uint KeyEpoch { get; init; }

    public required IPAddress Address6 { get; init; }

    public IPAddress? Address4 { get; init; }

    /// <summary><c>host:port</c> where other nodes can reach this node directly, when the policy lets them.</summary>
    public string? Endpoint { get; init; }

    /// <summary>The node's labels when it enrolled (name → value), for policies that group nodes by label.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The hub the node dials: the instance id of the provisioner it last attested through
    /// (<see cref="MeshHubRecord.InstanceId"/>); null for a member enrolled before hubs had ids, which
    /// every hub treats as its own.
    /// </summary>
    public string? Hub { get; init; }

    /// <summary>True when both hold the same labels with the same values.</summary>
    public bool SameLabels(MeshMember other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Labels.Count == other.Labels.Count && Labels.All(l => other.Labels.TryGetValue(l.Key, out var v) && v == l.Value);
    }
}

/// <summary>A revoked WireGuard public key: on every bundle's denylist from then on.</summary>
public sealed record RevokedKey
{
    public required byte[] PublicKey { get; init; }

    public required string NodeId { get; init; }

    public required uint KeyEpoch { get; init; }

    public required DateTimeOffset RevokedAt { get; init; }
}

/// <summary>The mesh as a whole, seen from the hub: where nodes dial and how the address plan looks.</summary>
public sealed record MeshTopology
{
    public required byte[] HubPublicKey { get; init; }

    public required IPAddress HubAddress6 { get; init; }

    public IPAddress? HubAddress4 { get; init; }

    public required IPNetwork Prefix6 { get; init; }

    public IPNetwork? Cidr4 { get; init; }

    /// <summary><c>host:port</c> nodes dial (<c>Mesh:Endpoint</c>).</summary>
    public required string HubEndpoint { get; init; }

    public int HubListenPort { get; init; } = 51820;

    /// <summary>PersistentKeepalive nodes use towards the hub (<c>Mesh:Keepalive</c>), 0 = off.</summary>
    public int Keepalive { get; init; } = 25;

    /// <summary>
    /// The instance id of this provisioner's hub (<see cref="MeshHubRecord.InstanceId"/>); members whose
    /// <see cref="MeshMember.Hub"/> names another hub are reached through that hub. Null: one hub only.
    /// </summary>
    public string? HubId { get; init; }

    /// <summary>
    /// The UDP port every node listens on, put in its bundle; null = any (the node only dials out, as
    /// under hub and spoke). Direct peers need it, since they dial each other's endpoints.
    /// </summary>
    public int? NodeListenPort { get; init; }
}

/// <summary>Decides which nodes peer with each other directly; every node always peers with the hub.</summary>
public interface IPeerPolicy
{
    /// <summary>True when <paramref name="node"/> should have <paramref name="other"/> as a direct peer.</summary>
    bool PeersDirectly(MeshMember node, MeshMember other);
}

/// <summary>Hub and spoke: nodes peer only with the hub, which routes the mesh prefix between them.</summary>
public sealed class HubAndSpokePolicy : IPeerPolicy
{
    public static readonly HubAndSpokePolicy Instance = new();

    public bool PeersDirectly(MeshMember node, MeshMember other) => false;
}

/// <summary>
/// Full mesh: nodes peer directly with every other node, when at least one of the two has a reachable
/// endpoint (the other is learnt from its first handshake). The relation is symmetric: a peer that
/// one side lists and the other does not would only drop the traffic routed to it.
/// </summary>
public sealed class FullMeshPolicy : IPeerPolicy
{
    public static readonly FullMeshPolicy Instance = new();

    public bool PeersDirectly(MeshMember node, MeshMember other)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(other);
        return node.NodeId != other.NodeId && (node.Endpoint is not null || other.Endpoint is not null);
    }
}

/// <summary>
/// Groups: nodes peer directly with nodes that carry one of the group labels with the same value (for
/// example both <c>rack=r12</c> when <c>rack</c> is a group label), when at least one of the two has a
/// reachable endpoint (symmetric, as <see cref="FullMeshPolicy"/>); everything else goes through the hub.
/// </summary>
public sealed class GroupsPolicy : IPeerPolicy
{
    private readonly string[] _groupLabels;

    public GroupsPolicy(IEnumerable<string> groupLabels)
    {
        ArgumentNullException.ThrowIfNull(groupLabels);
        _groupLabels = [.. groupLabels.Distinct(StringComparer.Ordinal)];
        if (_groupLabels.Length == 0)
        {
            throw new ArgumentException("at least one group label is needed", nameof(groupLabels));
        }
    }

    /// <summary>The label names that form groups.</summary>
    public IReadOnlyList<string> GroupLabels => _groupLabels;

    public bool PeersDirectly(MeshMember node, MeshMember other)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(other);
        return node.NodeId != other.NodeId && (node.Endpoint is not null || other.Endpoint is not null)
            && _groupLabels.Any(g => node.Labels.TryGetValue(g, out var mine) && other.Labels.TryGetValue(g, out var theirs) && mine == theirs);
    }
}

/// <summary>Storage of mesh members, revoked keys and the mesh epoch.</summary>
public interface IMeshRosterStore
{
    ulong GetEpoch();

    void SetEpoch(ulong epoch);

    /// <summary>
    /// Stores and returns the next epoch: one past the larger of the stored epoch and
    /// <paramref name="current"/>, in one step, so two provisioners sharing the store never hand out
    /// the same epoch for two different rosters.
    /// </summary>
    ulong NextEpoch(ulong current);

    IReadOnlyList<MeshMember> Members();

    void SaveMember(MeshMember member);

    void DeleteMember(string nodeId);

    IReadOnlyList<RevokedKey> Revoked();

    void AddRevoked(RevokedKey key);

    /// <summary>Every provisioner hub that has announced itself on this store.</summary>
    IReadOnlyList<MeshHubRecord> Hubs();

    /// <summary>Adds or replaces the hub with <see cref="MeshHubRecord.InstanceId"/>.</summary>
    void SaveHub(MeshHubRecord hub);
}
