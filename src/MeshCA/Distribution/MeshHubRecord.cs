namespace Kldload.MeshCA.Distribution;

/// <summary>
/// One provisioner's hub as the other provisioners sharing the roster see it: each hub peers with
/// every other one (WireGuard, <see cref="PublicKey"/> at <see cref="Endpoint"/>) and routes to it the
/// host addresses of the members homed there, so nodes on different sites reach each other.
/// </summary>
public sealed record MeshHubRecord
{
    /// <summary>The provisioner's instance id (<c>{DataDir}/instance.id</c>), which members name as their <see cref="MeshMember.Hub"/>.</summary>
    public required string InstanceId { get; init; }

    /// <summary>The hub's X25519 public key.</summary>
    public required byte[] PublicKey { get; init; }

    /// <summary><c>host:port</c> the other hubs dial (<c>Mesh:PeerEndpoint</c>, else the endpoint nodes dial).</summary>
    public required string Endpoint { get; init; }

    /// <summary>When the hub last announced itself (each start).</summary>
    public required DateTimeOffset SeenAt { get; init; }

    /// <summary>True when both name the same hub at the same key and endpoint (the time aside).</summary>
    public bool SameLink(MeshHubRecord other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return InstanceId == other.InstanceId && PublicKey.AsSpan().SequenceEqual(other.PublicKey) && Endpoint == other.Endpoint;
    }
}
