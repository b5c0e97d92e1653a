using System.Net;
using System.Net.Sockets;

namespace Kldload.MeshCA.Distribution;

/// <summary>
/// Who is on the mesh and who has been thrown off it: members with their current keys, the denylist
/// of revoked keys, and the mesh epoch that grows with every change. Builds each node's
/// <see cref="PeerBundle"/> and the hub's configuration from that state.
/// </summary>
public sealed class MeshRoster
{
    private readonly IMeshRosterStore _store;
    private readonly IPeerPolicy _policy;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, MeshMember> _members;
    private readonly List<RevokedKey> _revoked;
    private readonly HashSet<string> _revokedKeys;
    private readonly Dictionary<string, MeshHubRecord> _hubs;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public MeshRoster(IMeshRosterStore store, MeshTopology topology, IPeerPolicy policy, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(time);
        _store = store;
        Topology = topology;
        _policy = policy;
        _time = time;
        _members = store.Members().ToDictionary(m => m.NodeId, StringComparer.Ordinal);
        _revoked = [.. store.Revoked()];
        _revokedKeys = _revoked.Select(r => Convert.ToBase64String(r.PublicKey)).ToHashSet(StringComparer.Ordinal);
        _hubs = store.Hubs().ToDictionary(h => h.InstanceId, StringComparer.Ordinal);
        Epoch = store.GetEpoch();
    }

    public MeshTopology Topology { get; }

    /// <summary>The current mesh epoch.</summary>
    public ulong Epoch { get; private set; }

    public IReadOnlyList<MeshMember> Members
    {
        get
        {
            lock (_gate)
            {
                return [.. _members.Values.OrderBy(m => m.NodeId, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>The other provisioners' hubs this hub peers with (its own record left out).</summary>
    public IReadOnlyList<MeshHubRecord> PeerHubs
    {
        get
        {
            lock (_gate)
            {
                return [.. _hubs.Values.Where(h => h.InstanceId != Topology.HubId).OrderBy(h => h.InstanceId, StringComparer.Ordinal)];
            }
        }
    }

    public IReadOnlyList<RevokedKey> RevokedKeys
    {
        get
        {
            lock (_gate)
            {
                return [.. _revoked];
            }
        }
    }

    /// <summary>
    /// Completes once <see cref="Epoch"/> differs from <paramref name="seenEpoch"/> (at once if it already
    /// does), or when <paramref name="ct"/> fires (then cancelled). Nodes' control channels wait on it,
    /// so a change reaches every waiting node as soon as it is stored.
    /// </summary>
    public Task WaitForChangeAsync(ulong seenEpoch, CancellationToken ct)
    {
        Task changed;
        lock (_gate)
        {
            if (Epoch != seenEpoch)
            {
                return Task.CompletedTask;
            }

            changed = _changed.Task;
        }

        return changed.WaitAsync(ct);
    }

    /// <summary>The member that holds <paramref name="address"/> as its mesh IPv6 or IPv4 address, or null.</summary>
    public MeshMember? FindByAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var a = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        lock (_gate)
        {
            return _members.Values.FirstOrDefault(m => m.Address6.Equals(a) || (m.Address4 is { } v4 && v4.Equals(a)));
        }
    }

    public MeshMember? Find(string nodeId)
    {
        lock (_gate)
        {
            return _members.GetValueOrDefault(nodeId);
        }
    }

    public bool IsRevoked(ReadOnlySpan<byte> publicKey)
    {
        var text = Convert.ToBase64String(publicKey);
        lock (_gate)
        {
            return _revokedKeys.Contains(text);
        }
    }

    /// <summary>
    /// The key epoch <paramref name="nodeId"/> must derive next: its current one, or one past the
    /// newest revoked key of that node (a revoked key can never come back).
    /// </summary>
    public uint KeyEpochFor(string nodeId)
    {
        lock (_gate)
        {
            var revoked = _revoked.Where(r => r.NodeId == nodeId).Select(r => (long)r.KeyEpoch + 1).DefaultIfEmpty(0).Max();
            var current = _members.TryGetValue(nodeId, out var m) ? m.KeyEpoch : 0;
            return (uint)Math.Max(revoked, current);
        }
    }

    /// <summary>
    /// Adds a member or updates it. A changed key revokes the previous one. Returns the key that was
    /// replaced (and is now revoked), or null. Throws if the new key is revoked or held by another node.
    /// </summary>
    public byte[]? Upsert(MeshMember member)
    {
        ArgumentNullException.ThrowIfNull(member);
        if (!WireGuardKey.IsAcceptablePeerKey(member.PublicKey))
        {
            throw new ArgumentException("not a usable X25519 public key", nameof(member));
        }

        lock (_gate)
        {
            var keyText = Convert.ToBase64String(member.PublicKey);
            if (_revokedKeys.Contains(keyText))
            {
                throw new InvalidOperationException($"the key {keyText} of {member.NodeId} is revoked: derive a key with a newer epoch");
            }

            if (_members.Values.FirstOrDefault(m => m.NodeId != member.NodeId && m.PublicKey.AsSpan().SequenceEqual(member.PublicKey)) is { } holder)
            {
                throw new InvalidOperationException($"the key {keyText} already belongs to {holder.NodeId}");
            }

            byte[]? replaced = null;
            if (_members.TryGetValue(member.NodeId, out var old))
            {
                if (old == member || Same(old, member))
                {
                    return null;
                }

                if (!old.PublicKey.AsSpan().SequenceEqual(member.PublicKey))
                {
                    RevokeLocked(old);
                    replaced = old.PublicKey;
                }
            }

            _members[member.NodeId] = member;
            _store.SaveMember(member);
            BumpLocked();
            return replaced;
        }
    }

    /// <summary>Revokes the node's current key and removes it from the mesh. Returns the revoked key, or null if not a member.</summary>
    public byte[]? Revoke(string nodeId)
    {
        lock (_gate)
        {
            if (!_members.Remove(nodeId, out var old))
            {
                return null;
            }

            _store.DeleteMember(nodeId);
            RevokeLocked(old);
            BumpLocked();
            return old.PublicKey;
        }
    }

    /// <summary>
    /// True when <paramref name="member"/> dials this provisioner's hub (or hubs have no ids): the hub
    /// has it as a direct peer. Any other member is reached through the hub it names.
    /// </summary>
    public bool IsLocal(MeshMember member)
    {
        ArgumentNullException.ThrowIfNull(member);
        return member.Hub is null || Topology.HubId is null || member.Hub == Topology.HubId;
    }

    /// <summary>The hub <paramref name="member"/> dials: the one it names, or this one for a member from before hubs had ids.</summary>
    private string? HomeOf(MeshMember member) => member.Hub ?? Topology.HubId;

    /// <summary>
    /// Records this provisioner's hub (<paramref name="hub"/>, whose id is <see cref="MeshTopology.HubId"/>)
    /// in the store, so the other provisioners peer with it. Returns true when the key or endpoint is new.
    /// </summary>
    public bool AnnounceHub(MeshHubRecord hub)
    {
        ArgumentNullException.ThrowIfNull(hub);
        if (hub.InstanceId != Topology.HubId)
        {
            throw new ArgumentException($"the hub {hub.InstanceId} is not this provisioner's ({Topology.HubId})", nameof(hub));
        }

        lock (_gate)
        {
            var changed = !_hubs.TryGetValue(hub.InstanceId, out var old) || !old.SameLink(hub);
            _hubs[hub.InstanceId] = hub;
            _store.SaveHub(hub);
            return changed;
        }
    }

    /// <summary>
    /// Reads the roster again from the store, which another provisioner sharing it has changed, and
    /// wakes the nodes waiting for a change. Returns what the hub must apply: members added or
    /// changed, the keys of members gone or re-keyed, and whether routes through other hubs moved.
    /// </summary>
    public MeshRosterChange Reload()
    {
        lock (_gate)
        {
            var members = _store.Members().ToDictionary(m => m.NodeId, StringComparer.Ordinal);
            var revoked = _store.Revoked();
            var epoch = _store.GetEpoch();
            var hubs = _store.Hubs().ToDictionary(h => h.InstanceId, StringComparer.Ordinal);
            var goneMembers = _members.Values
                .Where(old => !members.TryGetValue(old.NodeId, out var now) || !now.PublicKey.AsSpan().SequenceEqual(old.PublicKey))
                .ToList();
            var gone = goneMembers.Select(old => old.PublicKey).ToList();
            var changed = members.Values.Where(m => !_members.TryGetValue(m.NodeId, out var old) || !Same(old, m)).ToList();
            var routesMoved = hubs.Count != _hubs.Count
                || hubs.Values.Any(h => !_hubs.TryGetValue(h.InstanceId, out var old) || !old.SameLink(h))
                || goneMembers.Any(m => !IsLocal(m))
                || changed.Any(m => !IsLocal(m) || (_members.TryGetValue(m.NodeId, out var old) && !IsLocal(old)));
            _hubs.Clear();
            foreach (var (id, hub) in hubs)
            {
                _hubs[id] = hub;
            }

            _members.Clear();
            foreach (var (id, member) in members)
            {
                _members[id] = member;
            }

            _revoked.Clear();
            _revoked.AddRange(revoked);
            _revokedKeys.Clear();
            _revokedKeys.UnionWith(revoked.Select(r => Convert.ToBase64String(r.PublicKey)));
            if (epoch != Epoch || gone.Count > 0 || changed.Count > 0)
            {
                Epoch = Math.Max(epoch, Epoch);
                var waiting = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                waiting.TrySetResult();
            }

            return new MeshRosterChange(changed, gone, routesMoved);
        }
    }

    /// <summary>The bundle for <paramref name="nodeId"/> at the current epoch, or null if it is not a member.</summary>
    public PeerBundle? BundleFor(string nodeId)
    {
        lock (_gate)
        {
            if (!_members.TryGetValue(nodeId, out var node))
            {
                return null;
            }

            var t = Topology;
            var hubAllowed = new List<IPNetwork> { t.Prefix6 };
            if (t.Cidr4 is { } c4)
            {
                hubAllowed.Add(c4);
            }

            var peers = new List<MeshPeer>
            {
                new() { Name = PeerBundle.HubName, PublicKey = t.HubPublicKey, AllowedIps = hubAllowed, Endpoint = t.HubEndpoint, PersistentKeepalive = t.Keepalive },
            };
            foreach (var other in _members.Values.OrderBy(m => m.NodeId, StringComparer.Ordinal))
            {
                // Direct peers share a hub: a node homed on another site's hub is reached through the
                // hubs, since its endpoint (a boot LAN address there) is not reachable from here.
                if (other.NodeId != nodeId && HomeOf(other) == HomeOf(node) && _policy.PeersDirectly(node, other))
                {
                    peers.Add(new MeshPeer { Name = other.NodeId, PublicKey = other.PublicKey, AllowedIps = HostRoutes(other), Endpoint = other.Endpoint, PersistentKeepalive = t.Keepalive });
                }
            }

            var addresses = new List<InterfaceAddress> { new(node.Address6, t.Prefix6.PrefixLength) };
            if (node.Address4 is { } a4 && t.Cidr4 is { } pool)
            {
                addresses.Add(new InterfaceAddress(a4, pool.PrefixLength));
            }

            return new PeerBundle
            {
                NodeId = nodeId,
                Epoch = Epoch,
                IssuedAt = _time.GetUtcNow(),
                KeyEpoch = node.KeyEpoch,
                Addresses = addresses,
                ListenPort = t.NodeListenPort,
                Peers = peers,
                Revoked = [.. _revoked.Select(r => r.PublicKey)],
            };
        }
    }

    /// <summary>
    /// The hub's configuration at the current epoch: every member homed here with its host routes, and
    /// every other provisioner's hub with the host routes of the members homed there.
    /// </summary>
    public PeerBundle HubConfiguration()
    {
        lock (_gate)
        {
            var t = Topology;
            var addresses = new List<InterfaceAddress> { new(t.HubAddress6, t.Prefix6.PrefixLength) };
            if (t.HubAddress4 is { } h4 && t.Cidr4 is { } pool)
            {
                addresses.Add(new InterfaceAddress(h4, pool.PrefixLength));
            }

            return new PeerBundle
            {
                NodeId = PeerBundle.HubName,
                Epoch = Epoch,
                IssuedAt = _time.GetUtcNow(),
                Addresses = addresses,
                ListenPort = t.HubListenPort,
                Peers = [.. _members.Values.Where(IsLocal).OrderBy(m => m.NodeId, StringComparer.Ordinal).Select(HubPeerFor), .. HubPeersLocked()],
                Revoked = [.. _revoked.Select(r => r.PublicKey)],
            };
        }
    }

    /// <summary>How the hub configures <paramref name="member"/>: its host routes, no endpoint (the node dials in).</summary>
    public static MeshPeer HubPeerFor(MeshMember member)
    {
        ArgumentNullException.ThrowIfNull(member);
        return new MeshPeer { Name = member.NodeId, PublicKey = member.PublicKey, AllowedIps = HostRoutes(member), Endpoint = null, PersistentKeepalive = 0 };
    }

    /// <summary>Each other hub as a peer of this one: its endpoint, and the host routes of its members.</summary>
    private IEnumerable<MeshPeer> HubPeersLocked()
    {
        foreach (var hub in _hubs.Values.Where(h => h.InstanceId != Topology.HubId).OrderBy(h => h.InstanceId, StringComparer.Ordinal))
        {
            if (hub.PublicKey.AsSpan().SequenceEqual(Topology.HubPublicKey) || !WireGuardKey.IsAcceptablePeerKey(hub.PublicKey))
            {
                continue; // a copied data directory (same hub key) or a broken row: never a peer of itself
            }

            yield return new MeshPeer
            {
                Name = PeerBundle.HubName + ":" + hub.InstanceId,
                PublicKey = hub.PublicKey,
                AllowedIps = [.. _members.Values.Where(m => m.Hub == hub.InstanceId).OrderBy(m => m.NodeId, StringComparer.Ordinal).SelectMany(HostRoutes)],
                Endpoint = hub.Endpoint,
                PersistentKeepalive = Topology.Keepalive,
            };
        }
    }

    private static List<IPNetwork> HostRoutes(MeshMember m)
    {
        var routes = new List<IPNetwork> { new(m.Address6, 128) };
        if (m.Address4 is { AddressFamily: AddressFamily.InterNetwork } v4)
        {
            routes.Add(new IPNetwork(v4, 32));
        }

        return routes;
    }

    private static bool Same(MeshMember a, MeshMember b) =>
        a.NodeId == b.NodeId && a.PublicKey.AsSpan().SequenceEqual(b.PublicKey) && a.KeyEpoch == b.KeyEpoch
        && a.Address6.Equals(b.Address6) && Equals(a.Address4, b.Address4) && a.Endpoint == b.Endpoint && a.Hub == b.Hub && a.SameLabels(b);

    private void RevokeLocked(MeshMember old)
    {
        var entry = new RevokedKey { PublicKey = old.PublicKey, NodeId = old.NodeId, KeyEpoch = old.KeyEpoch, RevokedAt = _time.GetUtcNow() };
        if (_revokedKeys.Add(Convert.ToBase64String(old.PublicKey)))
        {
            _revoked.Add(entry);
            _store.AddRevoked(entry);
        }
    }

    private void BumpLocked()
    {
        Epoch = _store.NextEpoch(Epoch);
        var waiting = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        waiting.TrySetResult();
    }
}

/// <summary>
/// What <see cref="MeshRoster.Reload"/> found changed: members to add or update on the hub, keys to
/// remove from it, and whether the routes through other hubs moved (a hub came or changed, or a
/// member homed elsewhere came, went or moved), which the hub applies from its whole configuration.
/// </summary>
public sealed record MeshRosterChange(IReadOnlyList<MeshMember> Changed, IReadOnlyList<byte[]> Removed, bool HubRoutesMoved = false);
