using System.Globalization;
using System.Security.Cryptography;
using System.Threading.Channels;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Inventory;

/// <summary>A state change that <see cref="NodeTransitions"/> does not allow (HTTP 409).</summary>
public sealed class IllegalTransitionException : Exception
{
    public IllegalTransitionException(string nodeId, NodeState from, NodeState to)
        : base($"node {nodeId} is {from}; it cannot become {to}")
    {
        From = from;
        To = to;
    }

    public IllegalTransitionException()
    {
    }

    public IllegalTransitionException(string message)
        : base(message)
    {
    }

    public IllegalTransitionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public NodeState From { get; }

    public NodeState To { get; }
}

/// <summary>The inventory refused to record a new node (<c>Inventory:MaxDiscovered</c>).</summary>
public sealed class InventoryFullException : Exception
{
    public InventoryFullException()
    {
    }

    public InventoryFullException(string message)
        : base(message)
    {
    }

    public InventoryFullException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>What a booting node told us about itself (iPXE variables, DHCP facts).</summary>
public sealed record BootFacts(string Mac, string? Uuid, string? Serial, string? Manufacturer, string? Product, string? Architecture, string? Platform);

/// <summary>
/// The inventory's single writer: creates nodes on first sight, applies state changes through the
/// transition table, appends every change to the node's history and tells live listeners (the
/// dashboard) about it.
/// </summary>
public sealed class NodeService
{
    private readonly INodeStore _store;
    private readonly TimeProvider _time;
    private readonly Lock _writeLock = new();

    /// <summary>An upper bound of the Discovered nodes (see <see cref="RecordBoot"/>); -1 until first counted. Under <see cref="_writeLock"/>.</summary>
    private int _discoveredBound = -1;
    private readonly List<Channel<NodeEvent>> _subscribers = [];

    private readonly IClusterNotifications _cluster;
    private readonly IInventoryObserver _observer;

    /// <param name="store">The inventory.</param>
    /// <param name="time">The clock of event times.</param>
    /// <param name="cluster">
    /// The other instances on the same database: each event recorded here is announced to them, and
    /// theirs reach this instance's live listeners. None (one instance) by default.
    /// </param>
    /// <param name="observer">Told of each boot step recorded (the host counts them); none by default.</param>
    public NodeService(INodeStore store, TimeProvider time, IClusterNotifications? cluster = null, IInventoryObserver? observer = null)
    {
        _store = store;
        _time = time;
        _cluster = cluster ?? SingleInstanceNotifications.Instance;
        _cluster.Subscribe(ClusterTopics.NodeEvent, OnEventElsewhere);
        _observer = observer ?? SilentInventoryObserver.Instance;
    }

    public INodeStore Store => _store;

    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    /// <summary>Normalises a MAC to lowercase colon-separated form; null when it is not a MAC.</summary>
    public static string? NormaliseMac(string? mac)
    {
        if (mac is null)
        {
            return null;
        }

        var hex = mac.Replace(":", string.Empty, StringComparison.Ordinal).Replace("-", string.Empty, StringComparison.Ordinal);
        if (hex.Length != 12 || !hex.All(char.IsAsciiHexDigit))
        {
            return null;
        }

        hex = hex.ToLowerInvariant();
        return string.Join(':', Enumerable.Range(0, 6).Select(i => hex.Substring(i * 2, 2)));
    }

    /// <summary>Finds a node by id, name, MAC or UUID.</summary>
    public NodeRecord? Find(string key)
    {
        if (_store.Get(key) is { } byId)
        {
            return byId;
        }

        if (NormaliseMac(key) is { } mac && _store.FindByMac(mac) is { } byMac)
        {
            return byMac;
        }

        return _store.FindByName(key) ?? _store.FindByUuid(key.ToLowerInvariant());
    }

    /// <summary>Records a boot step of the node with this MAC, creating it (Discovered) on first sight.</summary>
    public NodeRecord RecordBoot(BootFacts facts, NodeEventKind stage, string message)
    {
        ArgumentNullException.ThrowIfNull(facts);
        lock (_writeLock)
        {
            var now = Now;
            // A Replaced record is history: its hardware is gone, so a new sighting of its MAC is
            // new hardware. A Decommissioned record stays the node's record: it is refused later, by EK.
            var node = _store.FindByMac(facts.Mac);
            if (node is null || node.State == NodeState.Replaced)
            {
                // Nodes become Discovered only here (NewNode) and in Transition, under this lock: the
                // count at the last look plus the nodes that became Discovered since bounds the true
                // count from above. The State index is walked
                // (O(Discovered nodes)) only when that bound reaches the limit, not on every new MAC.
                if (_discoveredBound < 0 || _discoveredBound >= MaxDiscovered)
                {
                    _discoveredBound = _store.Count(NodeState.Discovered);
                }

                if (_discoveredBound >= MaxDiscovered)
                {
                    throw new InventoryFullException($"the inventory holds Inventory:MaxDiscovered ({MaxDiscovered}) Discovered nodes that never attested; {facts.Mac} is not recorded");
                }

                node = NewNode(facts.Mac, now);
            }

            // What a node says about itself is recorded only until its TPM has proven who it is:
            // after that, a script request (anyone can send one with this MAC) changes no fact.
            if (node.EkFingerprint is null)
            {
                node.Uuid = facts.Uuid ?? node.Uuid;
                node.Serial = facts.Serial ?? node.Serial;
                node.Manufacturer = facts.Manufacturer ?? node.Manufacturer;
                node.Product = facts.Product ?? node.Product;
                node.Architecture = facts.Architecture ?? node.Architecture;
                node.Platform = facts.Platform ?? node.Platform;
            }

            node.LastSeenAt = now;
            _store.Upsert(node);
            Emit(node, stage, message, "node", null);
            _observer.BootStepRecorded(stage);
            return node;
        }
    }

    private NodeRecord NewNode(string mac, DateTime now)
    {
        var node = new NodeRecord
        {
            Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)),
            Name = "node-" + mac.Replace(":", string.Empty, StringComparison.Ordinal)[6..],
            Macs = [mac],
            FirstSeenAt = now,
            State = NodeState.Discovered,
        };
        if (_store.FindByName(node.Name) is not null)
        {
            node.Name += "-" + node.Id[..4];
        }

        _store.Upsert(node);
        if (_discoveredBound >= 0)
        {
            _discoveredBound++;
        }

        Emit(node, NodeEventKind.StateChange, $"first seen ({mac})", "node", NodeState.Discovered.ToString());
        return node;
    }

    /// <summary>
    /// A MAC that belongs to <paramref name="old"/> now boots with another (proven) TPM: new hardware.
    /// It gets its own record (Discovered) with that MAC; the old record keeps its MAC and identity
    /// (a MAC proves nothing, so one TPM cannot take another node's record away).
    /// </summary>
    public NodeRecord RecordNewHardware(NodeRecord old, string mac)
    {
        ArgumentNullException.ThrowIfNull(old);
        lock (_writeLock)
        {
            var now = Now;
            var current = _store.Get(old.Id)!;
            Emit(current, NodeEventKind.Attestation, $"{mac} booted with another TPM: recorded as new hardware", "node", "new-hardware");
            var node = NewNode(mac, now);
            node.LastSeenAt = now;
            node.BootStartedAt = current.BootStartedAt;
            node.LastBootedImage = current.LastBootedImage;
            node.LastBootedKernelDigest = current.LastBootedKernelDigest;
            node.Architecture = current.Architecture;
            node.Platform = current.Platform;
            _store.Upsert(node);
            Emit(node, NodeEventKind.Attestation, $"new hardware behind {mac}; node {current.Id} ({current.Name}) had another TPM", "node", "new-hardware");
            return node;
        }
    }

    /// <summary>Most Discovered (never attested) nodes the inventory records (<c>Inventory:MaxDiscovered</c>).</summary>
    public int MaxDiscovered { get; init; } = 50_000;

    /// <summary>
    /// Runs <paramref name="work"/> as one inventory transaction under the single-writer lock: every
    /// write it makes through this service (and the stores that share the database) lands, or none.
    /// </summary>
    public T Atomically<T>(Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        lock (_writeLock)
        {
            return _store.InTransaction(work);
        }
    }

    /// <summary>Removes Discovered nodes that never attested and were not seen since <paramref name="before"/>.</summary>
    public int ExpireDiscovered(DateTime before, int limit = 1_000)
    {
        lock (_writeLock)
        {
            return _store.DeleteStaleDiscovered(before, limit);
        }
    }

    /// <summary>Marks the start of a boot (first DHCP packet, else the script request) for time-to-mesh.</summary>
    public void MarkBootStarted(NodeRecord node, DateTime at)
    {
        ArgumentNullException.ThrowIfNull(node);
        lock (_writeLock)
        {
            node.BootStartedAt = at;
            _store.Upsert(node);
        }
    }

    /// <summary>Applies a state change through the transition table and records it.</summary>
    public NodeRecord Transition(string nodeId, NodeState to, string actor, string? reason, Action<NodeRecord>? change = null)
    {
        lock (_writeLock)
        {
            var node = _store.Get(nodeId) ?? throw new KeyNotFoundException($"no node {nodeId}");
            if (node.State != to && !NodeTransitions.IsAllowed(node.State, to))
            {
                throw new IllegalTransitionException(node.Id, node.State, to);
            }

            var from = node.State;
            node.State = to;
            node.StateReason = reason;
            change?.Invoke(node);
            _store.Upsert(node);
            if (to == NodeState.Discovered && from != to && _discoveredBound >= 0)
            {
                _discoveredBound++;
            }

            var message = from == to ? $"{to} again" : $"{from} -> {to}";
            Emit(node, NodeEventKind.StateChange, reason is null ? message : $"{message}: {reason}", actor, to.ToString());
            return node;
        }
    }

    /// <summary>Changes a node's fields without a state change, with an event.</summary>
    public NodeRecord Update(string nodeId, NodeEventKind kind, string message, string actor, Action<NodeRecord> change, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_writeLock)
        {
            var node = _store.Get(nodeId) ?? throw new KeyNotFoundException($"no node {nodeId}");
            change(node);
            _store.Upsert(node);
            Emit(node, kind, message, actor, reason);
            return node;
        }
    }

    /// <summary>Appends an event to a node's history.</summary>
    public void Record(NodeRecord node, NodeEventKind kind, string message, string actor = "node", string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        lock (_writeLock)
        {
            Emit(node, kind, message, actor, reason);
        }
    }

    /// <summary>A live feed of new events (for the dashboard). Dispose the subscription to stop.</summary>
    public ChannelReader<NodeEvent> Subscribe(CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<NodeEvent>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (_subscribers)
        {
            _subscribers.Add(channel);
        }

        cancellationToken.Register(() =>
        {
            lock (_subscribers)
            {
                _subscribers.Remove(channel);
            }

            channel.Writer.TryComplete();
        });
        return channel.Reader;
    }

    private void Emit(NodeRecord node, NodeEventKind kind, string message, string actor, string? reason)
    {
        var e = _store.Append(new NodeEvent { NodeId = node.Id, At = Now, Kind = kind, Message = message, Actor = actor, Reason = reason });
        _cluster.Publish(ClusterTopics.NodeEvent, e.Id.ToString(CultureInfo.InvariantCulture));
        Deliver(e);
    }

    /// <summary>
    /// Another instance recorded event <paramref name="payload"/>: read it by its sequence number (not
    /// "after the last one seen": numbers can commit out of order) and hand it to the live listeners.
    /// </summary>
    private void OnEventElsewhere(string? payload)
    {
        if (payload is null || !long.TryParse(payload, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id <= 0)
        {
            return; // an outage: the live stream goes on from here; the history has the rest
        }

        if (_store.EventsAfter(id - 1, 1) is [{ } e] && e.Id == id)
        {
            Deliver(e);
        }
    }

    private void Deliver(NodeEvent e)
    {
        lock (_subscribers)
        {
            foreach (var s in _subscribers)
            {
                s.Writer.TryWrite(e);
            }
        }
    }
}
