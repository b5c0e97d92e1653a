using System.Globalization;
using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;
using Kldload.MeshCA.Links;

namespace Kldload.Agent.Resident;

/// <summary>The node's live WireGuard interface, as the resident agent changes it.</summary>
internal interface IMeshInterface
{
    IReadOnlyList<LivePeer> Peers();

    int? ListenPort();

    void SetPeer(MeshPeer peer);

    void RemovePeer(string publicKeyBase64);

    void SetListenPort(int port);
}

/// <summary><see cref="IMeshInterface"/> through <c>wg</c> on an interface of this network namespace.</summary>
internal sealed class WgMeshInterface(string name) : IMeshInterface
{
    public IReadOnlyList<LivePeer> Peers() => WireGuardDump.ParsePeers(Dump());

    public int? ListenPort() => WireGuardDump.ListenPort(Dump());

    public void SetPeer(MeshPeer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        List<string> args = ["set", name, "peer", WireGuardKey.ToBase64(peer.PublicKey), "allowed-ips", string.Join(',', peer.AllowedIps.Select(n => n.ToString()))];
        if (peer.Endpoint is { } endpoint)
        {
            args.AddRange(["endpoint", endpoint]);
        }

        args.AddRange(["persistent-keepalive", peer.PersistentKeepalive > 0 ? peer.PersistentKeepalive.ToString(CultureInfo.InvariantCulture) : "off"]);
        SystemCommand.Run(null, "wg", args);
    }

    public void RemovePeer(string publicKeyBase64) => SystemCommand.Run(null, "wg", ["set", name, "peer", publicKeyBase64, "remove"]);

    public void SetListenPort(int port) => SystemCommand.Run(null, "wg", ["set", name, "listen-port", port.ToString(CultureInfo.InvariantCulture)]);

    private string Dump() => SystemCommand.Run(null, "wg", ["show", name, "dump"]);
}
