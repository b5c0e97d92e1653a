using System.Collections.Concurrent;
using Kldload.Contracts;
using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;

namespace Kldload.Provisioner.Mesh;

/// <summary>A node's control channel as the operator sees it (<c>nodes show</c>, the dashboard).</summary>
/// <param name="Connected">A watch is open now, or one ended within the last two wait periods.</param>
/// <param name="LastSeen">When the node last called (any watch or renewal); null: not since kldload started.</param>
/// <param name="AppliedEpoch">The bundle epoch the node reported as applied.</param>
/// <param name="CurrentEpoch">The mesh epoch now: the node is up to date when both are equal.</param>
/// <param name="CertificateNotAfter">When the node's certificate runs out, as the node reported it.</param>
/// <param name="AgentState">The agent's own word for its state.</param>
/// <param name="Peers">Its WireGuard peers, named where the roster knows the key.</param>
public sealed record ControlChannelStatus(
    bool Connected,
    DateTimeOffset? LastSeen,
    ulong? AppliedEpoch,
    ulong CurrentEpoch,
    DateTimeOffset? CertificateNotAfter,
    string? AgentState,
    IReadOnlyList<PeerStatus> Peers);

/// <summary>One peer of a node: name (node id, <c>hub</c>, or null for an unknown key), key, last handshake, bytes.</summary>
public sealed record PeerStatus(string? Name, string PublicKey, DateTimeOffset? LastHandshake, long RxBytes, long TxBytes);

/// <summary>
/// What each node's resident agent last reported over its control channel, in memory: liveness is
/// the node calling, so it is not written to the database on every call (after a restart of kldload a
/// node shows "not seen" until its agent's next watch, seconds later).
/// </summary>
public sealed class ControlChannelRegistry(MeshIdentityService mesh, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Entry> _nodes = new(StringComparer.Ordinal);

    /// <summary>Records a watch from <paramref name="nodeId"/>; dispose the result when the watch ends.</summary>
    public IDisposable Report(string nodeId, WatchRequest request, TimeSpan wait)
    {
        ArgumentNullException.ThrowIfNull(request);
        var entry = _nodes.GetOrAdd(nodeId, _ => new Entry());
        lock (entry)
        {
            entry.LastSeen = time.GetUtcNow();
            entry.AppliedEpoch = request.AppliedEpoch;
            entry.CertificateNotAfter = request.CertificateNotAfter ?? entry.CertificateNotAfter;
            entry.AgentState = Clean(request.AgentState);
            entry.Peers = request.Peers?.Take(4096).ToList() ?? entry.Peers;
            entry.Wait = wait;
            entry.OpenWatches++;
        }

        return new WatchScope(this, entry);
    }

    /// <summary>Records a call that is not a watch (a renewal): the node is alive.</summary>
    public void Seen(string nodeId, DateTimeOffset? certificateNotAfter = null)
    {
        var entry = _nodes.GetOrAdd(nodeId, _ => new Entry());
        lock (entry)
        {
            entry.LastSeen = time.GetUtcNow();
            entry.CertificateNotAfter = certificateNotAfter ?? entry.CertificateNotAfter;
        }
    }

    /// <summary>
    /// The node's most recent WireGuard handshake with any of its peers (the hub or a direct peer), as
    /// its agent last reported it; null when it reported none or has not called since kldload started.
    /// </summary>
    public DateTimeOffset? LastHandshakeOf(string nodeId)
    {
        if (!_nodes.TryGetValue(nodeId, out var entry))
        {
            return null;
        }

        lock (entry)
        {
            return entry.Peers.Max(p => p.LastHandshake);
        }
    }

    /// <summary>The node's control channel, or null when it has not called since kldload started.</summary>
    public ControlChannelStatus? StatusOf(string nodeId)
    {
        if (!_nodes.TryGetValue(nodeId, out var entry))
        {
            return null;
        }

        var names = new Dictionary<string, string>(StringComparer.Ordinal) { [WireGuardKey.ToBase64(mesh.Roster.Topology.HubPublicKey)] = PeerBundle.HubName };
        foreach (var m in mesh.Roster.Members)
        {
            names[WireGuardKey.ToBase64(m.PublicKey)] = m.NodeId;
        }

        lock (entry)
        {
            var now = time.GetUtcNow();
            var connected = entry.OpenWatches > 0 || (entry.LastSeen is { } seen && now - seen <= (2 * entry.Wait) + TimeSpan.FromSeconds(5));
            return new ControlChannelStatus(
                connected,
                entry.LastSeen,
                entry.AppliedEpoch,
                mesh.Roster.Epoch,
                entry.CertificateNotAfter,
                entry.AgentState,
                [.. entry.Peers.Select(p => new PeerStatus(names.GetValueOrDefault(p.PublicKey), p.PublicKey, p.LastHandshake, p.RxBytes, p.TxBytes))]);
        }
    }

    private static string? Clean(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var printable = new string([.. text.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or ' ' or '.').Take(64)]);
        return printable.Length == 0 ? null : printable;
    }

    private sealed class Entry
    {
        public DateTimeOffset? LastSeen { get; set; }

        public ulong? AppliedEpoch { get; set; }

        public DateTimeOffset? CertificateNotAfter { get; set; }

        public string? AgentState { get; set; }

        public List<PeerReport> Peers { get; set; } = [];

        public TimeSpan Wait { get; set; }

        public int OpenWatches { get; set; }
    }

    private sealed class WatchScope(ControlChannelRegistry registry, Entry entry) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            lock (entry)
            {
                if (_done)
                {
                    return;
                }

                _done = true;
                entry.OpenWatches--;
                entry.LastSeen = registry.TimeNow();
            }
        }
    }

    private DateTimeOffset TimeNow() => time.GetUtcNow();
}
