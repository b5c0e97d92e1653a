using System.Net;
using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>
/// The DHCPv4 state machine (RFC 2131 section 4.3) for full and proxy mode: datagram in, reply out. It
/// owns the decisions (which message is answered, granted, NAKed or dropped, and why); addresses and
/// leases are <see cref="DhcpAddressAllocator"/>'s, reply bytes <see cref="DhcpReplyBuilder"/>'s, boot
/// options <see cref="DhcpBootOptionBuilder"/>'s, proxy answers <see cref="DhcpProxyResponder"/>'s and
/// the load-balancing split <see cref="DhcpPeerClients"/>'. No sockets and no timers: time comes from the injected
/// <see cref="TimeProvider"/>, leases go to the injected <see cref="ILeaseStore"/>, boot answers come
/// from <see cref="IDhcpBootPolicy"/>. Calls are serialised by an internal lock; the server loop is the
/// only caller on the hot path.
/// </summary>
public sealed class DhcpEngine : IDhcpLeaseQuery
{
    /// <summary>The client port (RFC 2131 section 4.1).</summary>
    public const int ClientPort = 68;

    /// <summary>The server and relay port (RFC 2131 section 4.1).</summary>
    public const int ServerPort = 67;

    /// <summary>
    /// The longest client identifier, host name or option 82 a lease keeps: what one option carries
    /// (RFC 2132 section 2). Longer values (RFC 3396 concatenation) are dropped as
    /// <see cref="DhcpDropReason.OversizedOption"/>.
    /// </summary>
    public const int MaxLeaseOptionLength = 255;

    private readonly DhcpServerOptions _options;
    private readonly ILeaseStore _store;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly ReservationBook _reservations;
    private readonly DhcpAddressAllocator _allocator;
    private readonly DhcpReplyBuilder _replies;
    private readonly DhcpProxyResponder _proxy;
    private readonly DhcpPeerClients _peerClients;
    private bool _peerAlive;

    public DhcpEngine(DhcpServerOptions options, ILeaseStore store, IDhcpBootPolicy bootPolicy, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(bootPolicy);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _store = store;
        _time = time;
        _reservations = new ReservationBook(options.Reservations);
        _allocator = new DhcpAddressAllocator(options, _reservations, store);
        var boot = new DhcpBootOptionBuilder(options.ServerAddress, bootPolicy);
        _replies = new DhcpReplyBuilder(options, _reservations, boot);
        _proxy = new DhcpProxyResponder(options, boot, _replies);
        _peerClients = new DhcpPeerClients(options.LoadBalancing.Buckets(), _allocator);
    }

    public DhcpEngineCounters Counters { get; } = new();

    public DhcpServerMode Mode => _options.Mode;

    /// <summary>Offers made and not yet requested or expired.</summary>
    public int PendingOfferCount
    {
        get
        {
            lock (_lock)
            {
                return _allocator.PendingOfferCount(_time.GetUtcNow());
            }
        }
    }

    /// <summary>Leases bound to a client now.</summary>
    public int ActiveLeaseCount
    {
        get
        {
            lock (_lock)
            {
                return _allocator.ActiveLeaseCount(_time.GetUtcNow());
            }
        }
    }

    /// <summary>A copy of every lease record (one per address).</summary>
    public IReadOnlyList<DhcpLease> Leases
    {
        get
        {
            lock (_lock)
            {
                return _allocator.CopyLeases();
            }
        }
    }

    /// <summary>The lease record of a hardware address (<c>aa:bb:..</c>), with its option 82 when relayed.</summary>
    public DhcpLease? FindByHardwareAddress(string hardwareAddress)
    {
        lock (_lock)
        {
            return _allocator.FindByHardwareAddress(hardwareAddress);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<DhcpLeaseEntry> ListLeases()
    {
        lock (_lock)
        {
            return _allocator.ListLeases(_time.GetUtcNow());
        }
    }

    /// <inheritdoc/>
    public DhcpLeaseEntry? FindLease(Ipv4Address address)
    {
        lock (_lock)
        {
            return _allocator.TryGetLease(address, out var lease) ? _allocator.Describe(lease, _time.GetUtcNow()) : null;
        }
    }

    /// <inheritdoc/>
    public DhcpLeaseEntry? ReleaseLease(Ipv4Address address)
    {
        DhcpLeaseEntry? before;
        lock (_lock)
        {
            before = _allocator.ReleaseByOperator(address, _time.GetUtcNow());
            if (before is null)
            {
                return null;
            }
        }

        // Outside the lock: the server loop keeps answering while the disk works (the store is thread-safe).
        _store.Flush();
        return before;
    }

    /// <inheritdoc/>
    public IReadOnlyList<DhcpPoolUsage> PoolUsage()
    {
        lock (_lock)
        {
            return _allocator.PoolUsage(_time.GetUtcNow());
        }
    }

    /// <summary>
    /// Load balancing: whether the peer is alive (its heartbeat is younger than the peer timeout). False
    /// at start and always without a <see cref="DhcpServerOptions.LoadBalancing"/> role.
    /// </summary>
    public bool PeerAlive
    {
        get
        {
            lock (_lock)
            {
                return _peerAlive;
            }
        }
    }

    /// <summary>
    /// Load balancing (RFC 3074): records what the heartbeat says of the peer. While it is alive this
    /// server answers only the clients in its buckets and hands out only its half of the free addresses.
    /// When it goes silent, the store's leases are read again first (every lease the peer acknowledged
    /// is durable there before its ACK left), then every client is answered from the whole pool. Returns
    /// true when the state changed. Without a role, nothing changes.
    /// </summary>
    public bool SetPeerAlive(bool alive)
    {
        if (_options.LoadBalancing == DhcpLoadBalancingRole.None)
        {
            return false;
        }

        lock (_lock)
        {
            if (alive == _peerAlive)
            {
                return false;
            }

            if (!alive)
            {
                // Under the lock, so nothing is granted between the read and the merge.
                _allocator.Reload(_store.LoadAll());
            }

            _peerAlive = alive;
            var role = _options.LoadBalancing;
            _allocator.MayAllocate = alive ? a => role.MayAllocate(a) : null;
            return true;
        }
    }

    /// <summary>
    /// The store refused these leases (<see cref="ILeaseStore.FlushRefusingConflicts"/>): the
    /// holders' leases replace them, so the addresses are not offered again while held.
    /// </summary>
    public void LearnConflicts(IReadOnlyList<DhcpLeaseConflict> conflicts)
    {
        ArgumentNullException.ThrowIfNull(conflicts);
        lock (_lock)
        {
            foreach (var conflict in conflicts)
            {
                _allocator.LearnConflict(conflict);
            }
        }
    }

    /// <summary>Parses and answers one datagram. Never throws on hostile input.</summary>
    public DhcpOutcome Handle(ReadOnlySpan<byte> datagram, DhcpReceiveContext context)
    {
        if (!DhcpMessage.TryRead(datagram, out var request, out var error))
        {
            Counters.CountMalformed(error);
            return new DhcpOutcome(null, DhcpDropReason.Malformed, error, null);
        }

        return Handle(request, context);
    }

    /// <summary>Answers one parsed request.</summary>
    public DhcpOutcome Handle(DhcpMessage request, DhcpReceiveContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Options.MessageType is not { } type)
        {
            Counters.CountMalformed(DhcpReadError.NoMessageType);
            return new DhcpOutcome(null, DhcpDropReason.Malformed, DhcpReadError.NoMessageType, request);
        }

        Counters.CountReceived(type);
        DhcpOutcome outcome;
        lock (_lock)
        {
            outcome = request.Op != BootOp.BootRequest
                ? DhcpOutcome.Ignored(DhcpDropReason.NotARequest, request)
                : _options.Mode == DhcpServerMode.Proxy ? _proxy.Answer(request, type, context) : HandleFull(request, type, context);
        }

        if (outcome.Drop is { } reason)
        {
            Counters.CountDropped(reason);
        }
        else if (outcome.Reply is { } reply)
        {
            Counters.CountSent(reply.Type);
        }

        return outcome;
    }

    // ---- full mode ---------------------------------------------------------------------------

    private DhcpOutcome HandleFull(DhcpMessage request, DhcpMessageType type, DhcpReceiveContext context)
    {
        if (context.LocalPort == _options.ProxyPort && _options.ProxyPort != ServerPort)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.WrongPort, request);
        }

        if (DhcpClientIdentity.HasOversizedLeaseOption(request))
        {
            return DhcpOutcome.Ignored(DhcpDropReason.OversizedOption, request);
        }

        if (_peerAlive && _peerClients.IsPeers(request, type))
        {
            return DhcpOutcome.Ignored(DhcpDropReason.PeerClient, request);
        }

        return type switch
        {
            DhcpMessageType.Discover => Discover(request, context),
            DhcpMessageType.Request => Request(request, context),
            DhcpMessageType.Decline => Decline(request),
            DhcpMessageType.Release => Release(request),
            DhcpMessageType.Inform => Inform(request, context),
            _ => DhcpOutcome.Ignored(DhcpDropReason.NotARequest, request),
        };
    }

    private DhcpOutcome Discover(DhcpMessage request, DhcpReceiveContext context)
    {
        var subnetIndex = _allocator.FindSubnet(request.RelayAddress.IsAny ? _options.ServerAddress : request.RelayAddress);
        if (subnetIndex < 0)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NoSubnet, request);
        }

        var now = _time.GetUtcNow();
        var clientId = DhcpClientIdentity.Of(request);
        if (_allocator.MakeRoomForOffer(clientId, subnetIndex, now))
        {
            Counters.CountDropped(DhcpDropReason.OfferTableFull);
        }

        var address = _allocator.Offer(request, clientId, subnetIndex, now, now + _options.OfferLifetime);
        return address is { } offered
            ? _replies.Lease(DhcpMessageType.Offer, request, context, _options.Subnets[subnetIndex], offered)
            : DhcpOutcome.Ignored(DhcpDropReason.PoolExhausted, request);
    }

    private DhcpOutcome Request(DhcpMessage request, DhcpReceiveContext context)
    {
        var now = _time.GetUtcNow();
        var clientId = DhcpClientIdentity.Of(request);
        var serverId = request.Options.GetAddress(DhcpOptionCode.ServerIdentifier);
        var requested = request.Options.GetAddress(DhcpOptionCode.RequestedIPAddress);
        var linkAddress = request.RelayAddress.IsAny ? _options.ServerAddress : request.RelayAddress;

        if (serverId is { } sid)
        {
            // SELECTING: the client answers one OFFER; every other server drops its offer.
            if (sid != _options.ServerAddress)
            {
                _allocator.WithdrawOffer(clientId);
                return DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
            }

            var index = _allocator.FindSubnet(linkAddress);
            if (requested is not { } wanted || index < 0 || !_options.Subnets[index].Contains(wanted))
            {
                return _replies.Nak(request, context, "requested address is not on this link");
            }

            return _allocator.CanGrant(request, clientId, wanted, _options.Subnets[index], now)
                ? Bind(request, context, clientId, index, wanted, now)
                : _replies.Nak(request, context, "address not available");
        }

        if (request.ClientAddress.IsAny)
        {
            // INIT-REBOOT: the client wants its old address back.
            if (requested is not { } wanted)
            {
                return DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
            }

            var index = _allocator.FindSubnet(linkAddress);
            if (index < 0)
            {
                return DhcpOutcome.Ignored(DhcpDropReason.NoSubnet, request);
            }

            if (!_options.Subnets[index].Contains(wanted))
            {
                return _replies.Nak(request, context, "wrong subnet");
            }

            var known = _allocator.LastAddressOf(clientId, wanted) || _reservations.Find(request)?.Address == wanted;
            if (known && _allocator.CanGrant(request, clientId, wanted, _options.Subnets[index], now))
            {
                return Bind(request, context, clientId, index, wanted, now);
            }

            // RFC 2131 section 4.3.2: NAK a wrong address; stay silent for a client we do not know.
            return _allocator.HeldByOther(wanted, clientId, now) || known
                ? _replies.Nak(request, context, "address not available")
                : DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
        }

        // RENEWING (unicast) or REBINDING (broadcast): ciaddr is the bound address.
        var ciaddr = request.ClientAddress;
        var subnetIndex = _allocator.FindSubnet(ciaddr);
        if (subnetIndex < 0)
        {
            return request.RelayAddress.IsAny && context.Source.Address.Equals(IPAddress.Broadcast)
                ? _replies.Nak(request, context, "wrong subnet")
                : DhcpOutcome.Ignored(DhcpDropReason.NoSubnet, request);
        }

        if (_allocator.TryGetLease(ciaddr, out var lease) && lease.ClientId == clientId && lease.State != DhcpLeaseState.Declined
            && _allocator.CanGrant(request, clientId, ciaddr, _options.Subnets[subnetIndex], now))
        {
            return Bind(request, context, clientId, subnetIndex, ciaddr, now);
        }

        return _allocator.HeldByOther(ciaddr, clientId, now)
            ? _replies.Nak(request, context, "address held by another client")
            : DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
    }

    private DhcpOutcome Bind(DhcpMessage request, DhcpReceiveContext context, string clientId, int subnetIndex, Ipv4Address address, DateTimeOffset now)
    {
        var subnet = _options.Subnets[subnetIndex];
        var reservation = _reservations.Find(request);
        _allocator.Grant(DhcpLease.Bound(request, clientId, address, now + subnet.LeaseTime, reservation?.HostName), now);
        var outcome = _replies.Lease(DhcpMessageType.Ack, request, context, subnet, address);
        return outcome.Reply is { } reply ? outcome with { Reply = reply with { NeedsDurableLease = true } } : outcome;
    }

    private DhcpOutcome Decline(DhcpMessage request)
    {
        var serverId = request.Options.GetAddress(DhcpOptionCode.ServerIdentifier);
        var address = request.Options.GetAddress(DhcpOptionCode.RequestedIPAddress);
        var clientId = DhcpClientIdentity.Of(request);
        if (serverId != _options.ServerAddress || address is not { } a
            || !_allocator.TryGetLease(a, out var lease) || lease.ClientId != clientId)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
        }

        // RFC 2131 section 4.3.3: mark the address as not available; the client starts over.
        _allocator.Decline(lease, _time.GetUtcNow() + _options.DeclineHoldTime);
        return DhcpOutcome.Silent(request);
    }

    private DhcpOutcome Release(DhcpMessage request)
    {
        var clientId = DhcpClientIdentity.Of(request);
        if (!_allocator.TryGetLease(request.ClientAddress, out var lease) || lease.ClientId != clientId || lease.State != DhcpLeaseState.Active)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
        }

        // RFC 2131 section 4.3.4: keep the record so the client gets the same address next time.
        _allocator.Release(lease, _time.GetUtcNow());
        return DhcpOutcome.Silent(request);
    }

    private DhcpOutcome Inform(DhcpMessage request, DhcpReceiveContext context)
    {
        var index = _allocator.FindSubnet(request.ClientAddress.IsAny ? request.RelayAddress : request.ClientAddress);
        if (index < 0)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NoSubnet, request);
        }

        return _replies.Lease(DhcpMessageType.Ack, request, context, _options.Subnets[index], Ipv4Address.Any, inform: true);
    }
}
