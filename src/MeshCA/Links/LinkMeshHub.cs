using Kldload.MeshCA.Distribution;

namespace Kldload.MeshCA.Links;

/// <summary>
/// <see cref="IMeshHub"/> over a live <see cref="WireGuardLink"/>: every enrolment, key rotation and
/// revocation reaches the hub interface at once with <c>wg set</c>. <see cref="Synchronize"/> needs the
/// hub's private key (<c>wg syncconf</c> would clear it otherwise): without one it throws.
/// </summary>
public sealed class LinkMeshHub(WireGuardLink link, byte[]? hubPrivateKey = null) : IMeshHub
{
    public WireGuardLink Link => link;

    public bool IsRunning => WireGuardLink.Exists(link.Name, link.Namespace);

    /// <summary>
    /// Configures a freshly created hub link from <paramref name="hubConfiguration"/>: private key and
    /// listen port, addresses, link up, then every peer with <c>wg syncconf</c>.
    /// </summary>
    public static void BringUp(WireGuardLink link, PeerBundle hubConfiguration, ReadOnlySpan<byte> hubPrivateKey)
    {
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(hubConfiguration);
        link.SetPrivateKey(hubPrivateKey, hubConfiguration.ListenPort);
        foreach (var a in hubConfiguration.Addresses)
        {
            link.AddAddress(a);
        }

        link.Up();
        link.SyncConfiguration(WireGuardConfigRenderer.RenderSetConf(hubConfiguration), hubPrivateKey);
    }

    public void AddOrUpdatePeer(MeshPeer peer) => link.SetPeer(peer);

    public void RemovePeer(ReadOnlySpan<byte> publicKey) => link.RemovePeer(publicKey);

    public void Synchronize(PeerBundle hubConfiguration)
    {
        ArgumentNullException.ThrowIfNull(hubConfiguration);
        if (hubPrivateKey is null)
        {
            throw new InvalidOperationException("this hub was made without its private key, which wg syncconf needs");
        }

        link.SyncConfiguration(WireGuardConfigRenderer.RenderSetConf(hubConfiguration), hubPrivateKey);
    }
}
