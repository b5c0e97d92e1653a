using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;

namespace Kldload.Agent.Resident;

/// <summary>
/// What turns the live interface's peers into a bundle's: peers to remove (not in the bundle, which
/// includes every revoked key) and peers to add or change (new, or other allowed IPs or keepalive).
/// Applied peer by peer with <c>wg set</c>, removals first, so the interface is never recreated and a
/// peer that stays keeps its session (its endpoint too: a roamed endpoint is not reset).
/// </summary>
internal sealed record PeerChangePlan(IReadOnlyList<string> Remove, IReadOnlyList<MeshPeer> Set)
{
    public bool IsEmpty => Remove.Count == 0 && Set.Count == 0;

    public static PeerChangePlan Between(IReadOnlyList<LivePeer> live, PeerBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentNullException.ThrowIfNull(bundle);
        var wanted = bundle.Peers.ToDictionary(p => WireGuardKey.ToBase64(p.PublicKey), StringComparer.Ordinal);
        var remove = live.Where(p => !wanted.ContainsKey(p.PublicKey)).Select(p => p.PublicKey).ToList();
        var byKey = live.ToDictionary(p => p.PublicKey, StringComparer.Ordinal);
        var set = new List<MeshPeer>();
        foreach (var (key, peer) in wanted)
        {
            if (!byKey.TryGetValue(key, out var current)
                || !current.AllowedIps.Order(StringComparer.Ordinal).SequenceEqual(peer.AllowedIps.Select(n => n.ToString()).Order(StringComparer.Ordinal), StringComparer.Ordinal)
                || current.Keepalive != peer.PersistentKeepalive)
            {
                set.Add(peer);
            }
        }

        return new PeerChangePlan(remove, set);
    }
}
