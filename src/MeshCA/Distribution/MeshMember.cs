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

/// <summary>Full mesh: nodes peer directly with every other node that has a reachable endpoint.</summary>
public sealed class FullMeshPolicy : IPeerPolicy
{
    public static readonly FullMeshPolicy Instance = new();

    public bool PeersDirectly(MeshMember node, MeshMember other) => other.Endpoint is not null && node.NodeId != other.NodeId;
}

/// <summary>Storage of mesh members, revoked keys and the mesh epoch.</summary>
public interface IMeshRosterStore
{
    ulong GetEpoch();

    void SetEpoch(ulong epoch);

    IReadOnlyList<MeshMember> Members();

    void SaveMember(MeshMember member);

    void DeleteMember(string nodeId);

    IReadOnlyList<RevokedKey> Revoked();

    void AddRevoked(RevokedKey key);
}
