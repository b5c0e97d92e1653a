namespace Kldload.MeshCA.Distribution;

/// <summary>
/// The hub's live WireGuard interface. Implemented by the provisioner (<c>wg set</c> on its hub
/// interface); <see cref="MeshIdentityService"/> calls it as nodes enrol, rotate keys and are revoked,
/// so a revocation takes effect on the hub at once.
/// </summary>
public interface IMeshHub
{
    /// <summary>True when an interface is up and changes reach it.</summary>
    bool IsRunning { get; }

    /// <summary>Adds <paramref name="peer"/> or replaces its allowed IPs, endpoint and keepalive.</summary>
    void AddOrUpdatePeer(MeshPeer peer);

    /// <summary>Removes the peer with <paramref name="publicKey"/>; no error if absent.</summary>
    void RemovePeer(ReadOnlySpan<byte> publicKey);

    /// <summary>
    /// Applies <paramref name="hubConfiguration"/> (<see cref="MeshRoster.HubConfiguration"/>) whole: peers
    /// not in it removed, the others set as it says (live sessions survive).
    /// </summary>
    void Synchronize(PeerBundle hubConfiguration);
}

/// <summary>The hub when <c>Mesh:Enabled</c> is false: identities are still issued, no interface is touched.</summary>
public sealed class DetachedMeshHub : IMeshHub
{
    public static readonly DetachedMeshHub Instance = new();

    public bool IsRunning => false;

    public void AddOrUpdatePeer(MeshPeer peer)
    {
    }

    public void RemovePeer(ReadOnlySpan<byte> publicKey)
    {
    }

    public void Synchronize(PeerBundle hubConfiguration)
    {
    }
}
