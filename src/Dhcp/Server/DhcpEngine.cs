using System.Net;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>
/// The DHCPv4 server logic (RFC 2131 section 4.3) for full and proxy mode: datagram in, reply out.
/// No sockets and no timers: time comes from the injected <see cref="TimeProvider"/>, leases go to the
/// injected <see cref="ILeaseStore"/>, boot answers come from <see cref="IDhcpBootPolicy"/>. Calls are
/// serialised by an internal lock; the server loop is the only caller on the hot path.
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

    private static readonly IPAddress LimitedBroadcast = IPAddress.Broadcast;

    private readonly DhcpServerOptions _options;
    private readonly ILeaseStore _store;
    private readonly IDhcpBootPolicy _bootPolicy;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, DhcpLease> _byAddress = [];
    private readonly Dictionary<string, uint> _byClient = [];
    private readonly ReservationBook _reservations;
    private readonly PendingOffers _offers;
    private readonly uint[] _cursor;

    public DhcpEngine(DhcpServerOptions options, ILeaseStore store, IDhcpBootPolicy bootPolicy, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(bootPolicy);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _store = store;
        _bootPolicy = bootPolicy;
        _time = time;
        _reservations = new ReservationBook(options.Reservations);
        // Large pools: at most half can be on offer at once. A full table evicts its oldest offer before a
        // new one is made, so a flood recycles its own offers and a real client always gets one.
        var perSubnet = options.Subnets.Select(s => Math.Max(Math.Min(s.PoolSize, 16), s.PoolSize / 2)).ToArray();
        _offers = new PendingOffers(options.MaxPendingOffers, perSubnet);
        _cursor = options.Subnets.Select(s => s.PoolStart.Value).ToArray();
        foreach (var lease in store.LoadAll())
        {
            _byAddress[lease.Address.Value] = lease;
            if (lease.State != DhcpLeaseState.Declined)
            {
                _byClient[lease.ClientId] = lease.Address.Value;
            }
        }
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
                _offers.Sweep(_time.GetUtcNow());
                return _offers.Count;
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
                var now = _time.GetUtcNow();
                return _byAddress.Values.Count(l => l.State == DhcpLeaseState.Active && l.Expires > now);
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
                return _byAddress.Values.ToList();
            }
        }
    }

    /// <summary>The lease record of a hardware address (<c>aa:bb:..</c>), with its option 82 when relayed.</summary>
    public DhcpLease? FindByHardwareAddress(string hardwareAddress)
    {
        lock (_lock)
        {
            return _byAddress.Values.Where(l => string.Equals(l.HardwareAddress, hardwareAddress, StringComparison.OrdinalIgnoreCase))
                .OrderByDescending(l => l.Expires).FirstOrDefault();
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<DhcpLeaseEntry> ListLeases()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            return _byAddress.Values.OrderBy(l => l.Address.Value).Select(l => Describe(l, now)).ToList();
        }
    }

    /// <inheritdoc/>
    public DhcpLeaseEntry? FindLease(Ipv4Address address)
    {
        lock (_lock)
        {
            return _byAddress.TryGetValue(address.Value, out var lease) ? Describe(lease, _time.GetUtcNow()) : null;
        }
    }

    /// <inheritdoc/>
    public DhcpLeaseEntry? ReleaseLease(Ipv4Address address)
    {
        DhcpLeaseEntry? before;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            if (!_byAddress.TryGetValue(address.Value, out var lease) || !lease.IsHeldAt(now))
            {
                return null;
            }

            before = Describe(lease, now);
            var released = lease with { State = DhcpLeaseState.Released, Expires = now };
            if (lease.State == DhcpLeaseState.Declined)
            {
                // A decline's record names no client ("declined"): nobody is owed the address first.
                _byAddress[address.Value] = released;
                _store.Save(released);
            }
            else
            {
                Store(released);
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
            var now = _time.GetUtcNow();
            var usage = new List<DhcpPoolUsage>(_options.Subnets.Count);
            foreach (var subnet in _options.Subnets)
            {
                var counted = new HashSet<uint>();
                var reserved = 0;
                foreach (var a in NeverPooled())
                {
                    if (subnet.InPool(a) && counted.Add(a.Value))
                    {
                        reserved++;
                    }
                }

                int active = 0, declined = 0, offered = 0;
                foreach (var lease in _byAddress.Values)
                {
                    if (!lease.IsHeldAt(now) || !subnet.InPool(lease.Address) || !counted.Add(lease.Address.Value))
                    {
                        continue;
                    }

                    if (lease.State == DhcpLeaseState.Declined)
                    {
                        declined++;
                    }
                    else
                    {
                        active++;
                    }
                }

                foreach (var offer in _offers.Live(now))
                {
                    if (subnet.InPool(offer.Address) && counted.Add(offer.Address.Value))
                    {
                        offered++;
                    }
                }

                usage.Add(new DhcpPoolUsage(subnet, subnet.PoolSize, active, offered, declined, reserved));
            }

            return usage;
        }
    }

    /// <summary>Addresses never handed out from a pool (see <see cref="IsFree"/>).</summary>
    private IEnumerable<Ipv4Address> NeverPooled()
    {
        foreach (var r in _options.Reservations)
        {
            yield return r.Address;
        }

        yield return _options.ServerAddress;
        foreach (var s in _options.Subnets)
        {
            if (s.Router is { } router)
            {
                yield return router;
            }

            yield return s.Network;
            yield return new Ipv4Address(s.Network.Value | ~s.Mask.Value);
        }
    }

    private DhcpLeaseEntry Describe(DhcpLease lease, DateTimeOffset now)
    {
        var status = lease.State switch
        {
            DhcpLeaseState.Released => DhcpLeaseStatus.Released,
            _ when lease.Expires <= now => DhcpLeaseStatus.Expired,
            DhcpLeaseState.Declined => DhcpLeaseStatus.Declined,
            _ => DhcpLeaseStatus.Active,
        };
        var subnet = _options.Subnets.FirstOrDefault(s => s.Contains(lease.Address));
        DateTimeOffset? declinedAt = lease.State == DhcpLeaseState.Declined ? lease.Expires - _options.DeclineHoldTime : null;
        return new DhcpLeaseEntry(lease, status, subnet, _reservations.ForAddress(lease.Address), declinedAt);
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
                : _options.Mode == DhcpServerMode.Proxy ? HandleProxy(request, type, context) : HandleFull(request, type, context);
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

        if (HasOversizedLeaseOption(request))
        {
            return DhcpOutcome.Ignored(DhcpDropReason.OversizedOption, request);
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
        var subnetIndex = FindSubnet(request.RelayAddress.IsAny ? _options.ServerAddress : request.RelayAddress);
        if (subnetIndex < 0)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NoSubnet, request);
        }

        var now = _time.GetUtcNow();
        var clientId = ClientIdOf(request);
        var subnet = _options.Subnets[subnetIndex];
        if (!_offers.TryGet(clientId, now, out _) && _offers.MakeRoom(subnetIndex, now) > 0)
        {
            Counters.CountDropped(DhcpDropReason.OfferTableFull);
        }

        var address = ChooseAddress(request, clientId, subnetIndex, now, out var fromOffer);
        if (address is null)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.PoolExhausted, request);
        }

        if (!fromOffer)
        {
            _offers.Add(clientId, address.Value, now + _options.OfferLifetime, subnetIndex);
        }

        return Reply(DhcpMessageType.Offer, request, context, subnet, address.Value);
    }

    private Ipv4Address? ChooseAddress(DhcpMessage request, string clientId, int subnetIndex, DateTimeOffset now, out bool fromOffer)
    {
        var subnet = _options.Subnets[subnetIndex];
        fromOffer = false;
        if (_reservations.Find(request) is { } reservation)
        {
            return subnet.Contains(reservation.Address) ? reservation.Address : null;
        }

        if (_offers.TryGet(clientId, now, out var offer) && offer.SubnetIndex == subnetIndex)
        {
            fromOffer = true;
            return offer.Address;
        }

        if (_byClient.TryGetValue(clientId, out var previous) && subnet.InPool(new Ipv4Address(previous)) && IsFree(new Ipv4Address(previous), clientId, now))
        {
            return new Ipv4Address(previous);
        }

        if (request.Options.GetAddress(DhcpOptionCode.RequestedIPAddress) is { } wanted && subnet.InPool(wanted) && IsFree(wanted, clientId, now))
        {
            return wanted;
        }

        // Walk the pool from where the last search stopped: never-used addresses come first.
        var size = (uint)subnet.PoolSize;
        var cursor = _cursor[subnetIndex];
        for (uint tried = 0; tried < size; tried++)
        {
            var candidate = new Ipv4Address(cursor);
            cursor = cursor >= subnet.PoolEnd.Value ? subnet.PoolStart.Value : cursor + 1;
            if (IsFree(candidate, clientId, now))
            {
                _cursor[subnetIndex] = cursor;
                return candidate;
            }
        }

        return null;
    }

    /// <summary>An address nobody else holds, has been offered, or has reserved; not ours or the router's.</summary>
    private bool IsFree(Ipv4Address address, string clientId, DateTimeOffset now)
    {
        if (address == _options.ServerAddress || _reservations.IsReserved(address))
        {
            return false;
        }

        foreach (var s in _options.Subnets)
        {
            if (s.Router == address || (s.Network.Value | ~s.Mask.Value) == address.Value || s.Network == address)
            {
                return false;
            }
        }

        if (_offers.IsOfferedToOther(address, clientId, now))
        {
            return false;
        }

        return !_byAddress.TryGetValue(address.Value, out var lease)
            || (lease.ClientId == clientId && lease.State != DhcpLeaseState.Declined)
            || !lease.IsHeldAt(now);
    }

    /// <summary>Whether <paramref name="address"/> may be bound to this client now (RFC 2131 section 4.3.2).</summary>
    private bool CanGrant(DhcpMessage request, string clientId, Ipv4Address address, DhcpSubnet subnet, DateTimeOffset now)
    {
        if (_reservations.Find(request) is { } reservation)
        {
            return reservation.Address == address;
        }

        return subnet.InPool(address) && IsFree(address, clientId, now);
    }

    private DhcpOutcome Request(DhcpMessage request, DhcpReceiveContext context)
    {
        var now = _time.GetUtcNow();
        var clientId = ClientIdOf(request);
        var serverId = request.Options.GetAddress(DhcpOptionCode.ServerIdentifier);
        var requested = request.Options.GetAddress(DhcpOptionCode.RequestedIPAddress);
        var linkAddress = request.RelayAddress.IsAny ? _options.ServerAddress : request.RelayAddress;

        if (serverId is { } sid)
        {
            // SELECTING: the client answers one OFFER; every other server drops its offer.
            if (sid != _options.ServerAddress)
            {
                _offers.Remove(clientId);
                return DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
            }

            var index = FindSubnet(linkAddress);
            if (requested is not { } wanted || index < 0 || !_options.Subnets[index].Contains(wanted))
            {
                return Nak(request, context, "requested address is not on this link");
            }

            return CanGrant(request, clientId, wanted, _options.Subnets[index], now)
                ? Bind(request, context, clientId, index, wanted, now)
                : Nak(request, context, "address not available");
        }

        if (request.ClientAddress.IsAny)
        {
            // INIT-REBOOT: the client wants its old address back.
            if (requested is not { } wanted)
            {
                return DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
            }

            var index = FindSubnet(linkAddress);
            if (index < 0)
            {
                return DhcpOutcome.Ignored(DhcpDropReason.NoSubnet, request);
            }

            if (!_options.Subnets[index].Contains(wanted))
            {
                return Nak(request, context, "wrong subnet");
            }

            var known = (_byClient.TryGetValue(clientId, out var previous) && previous == wanted.Value)
                || _reservations.Find(request)?.Address == wanted;
            if (known && CanGrant(request, clientId, wanted, _options.Subnets[index], now))
            {
                return Bind(request, context, clientId, index, wanted, now);
            }

            // RFC 2131 section 4.3.2: NAK a wrong address; stay silent for a client we do not know.
            return HeldByOther(wanted, clientId, now) || known ? Nak(request, context, "address not available") : DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
        }

        // RENEWING (unicast) or REBINDING (broadcast): ciaddr is the bound address.
        var ciaddr = request.ClientAddress;
        var subnetIndex = FindSubnet(ciaddr);
        if (subnetIndex < 0)
        {
            return request.RelayAddress.IsAny && context.Source.Address.Equals(LimitedBroadcast)
                ? Nak(request, context, "wrong subnet")
                : DhcpOutcome.Ignored(DhcpDropReason.NoSubnet, request);
        }

        if (_byAddress.TryGetValue(ciaddr.Value, out var lease) && lease.ClientId == clientId && lease.State != DhcpLeaseState.Declined
            && CanGrant(request, clientId, ciaddr, _options.Subnets[subnetIndex], now))
        {
            return Bind(request, context, clientId, subnetIndex, ciaddr, now);
        }

        return HeldByOther(ciaddr, clientId, now) ? Nak(request, context, "address held by another client") : DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
    }

    private bool HeldByOther(Ipv4Address address, string clientId, DateTimeOffset now) =>
        (_byAddress.TryGetValue(address.Value, out var lease) && lease.ClientId != clientId && lease.IsHeldAt(now))
        || _offers.IsOfferedToOther(address, clientId, now);

    private DhcpOutcome Bind(DhcpMessage request, DhcpReceiveContext context, string clientId, int subnetIndex, Ipv4Address address, DateTimeOffset now)
    {
        var subnet = _options.Subnets[subnetIndex];
        _offers.Remove(clientId);
        if (_byClient.TryGetValue(clientId, out var previous) && previous != address.Value
            && _byAddress.TryGetValue(previous, out var old) && old.ClientId == clientId)
        {
            Store(old with { State = DhcpLeaseState.Released, Expires = now });
        }

        var reservation = _reservations.Find(request);
        Store(new DhcpLease
        {
            Address = address,
            ClientId = clientId,
            HardwareAddress = request.HardwareAddressText,
            State = DhcpLeaseState.Active,
            Expires = now + subnet.LeaseTime,
            HostName = reservation?.HostName ?? request.Options.GetString(DhcpOptionCode.HostName),
            // Only a relay's option 82 says where the client is (see ReservationBook.TrustedRelayInformation).
            RelayAgentInformation = request.RelayAddress.IsAny ? null : request.Options.Get(DhcpOptionCode.RelayAgentInformation),
            RelayAddress = request.RelayAddress,
        });
        var outcome = Reply(DhcpMessageType.Ack, request, context, subnet, address);
        return outcome.Reply is { } reply ? outcome with { Reply = reply with { NeedsDurableLease = true } } : outcome;
    }

    private void Store(DhcpLease lease)
    {
        _byAddress[lease.Address.Value] = lease;
        if (lease.State == DhcpLeaseState.Declined)
        {
            _byClient.Remove(lease.ClientId);
        }
        else
        {
            _byClient[lease.ClientId] = lease.Address.Value;
        }

        _store.Save(lease);
    }

    private DhcpOutcome Decline(DhcpMessage request)
    {
        var serverId = request.Options.GetAddress(DhcpOptionCode.ServerIdentifier);
        var address = request.Options.GetAddress(DhcpOptionCode.RequestedIPAddress);
        var clientId = ClientIdOf(request);
        if (serverId != _options.ServerAddress || address is not { } a
            || !_byAddress.TryGetValue(a.Value, out var lease) || lease.ClientId != clientId)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
        }

        // RFC 2131 section 4.3.3: mark the address as not available; the client starts over.
        _byClient.Remove(clientId);
        Store(lease with { State = DhcpLeaseState.Declined, ClientId = "declined", Expires = _time.GetUtcNow() + _options.DeclineHoldTime });
        return DhcpOutcome.Silent(request);
    }

    private DhcpOutcome Release(DhcpMessage request)
    {
        var clientId = ClientIdOf(request);
        if (!_byAddress.TryGetValue(request.ClientAddress.Value, out var lease) || lease.ClientId != clientId || lease.State != DhcpLeaseState.Active)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
        }

        // RFC 2131 section 4.3.4: keep the record so the client gets the same address next time.
        Store(lease with { State = DhcpLeaseState.Released, Expires = _time.GetUtcNow() });
        return DhcpOutcome.Silent(request);
    }

    private DhcpOutcome Inform(DhcpMessage request, DhcpReceiveContext context)
    {
        var index = FindSubnet(request.ClientAddress.IsAny ? request.RelayAddress : request.ClientAddress);
        if (index < 0)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NoSubnet, request);
        }

        return Reply(DhcpMessageType.Ack, request, context, _options.Subnets[index], Ipv4Address.Any, inform: true);
    }

    // ---- proxy mode (PXE 2.1 section 2.2.4) ---------------------------------------------------

    private DhcpOutcome HandleProxy(DhcpMessage request, DhcpMessageType type, DhcpReceiveContext context)
    {
        var client = BootClient.From(request);
        if (!client.IsBootClient)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NotBootClient, request);
        }

        var onBootPort = context.LocalPort == _options.ProxyPort;
        var answers = onBootPort
            ? type is DhcpMessageType.Request or DhcpMessageType.Inform
            : type == DhcpMessageType.Discover
                || (type == DhcpMessageType.Request && request.Options.GetAddress(DhcpOptionCode.ServerIdentifier) == _options.ServerAddress);
        if (!answers)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
        }

        var answer = _bootPolicy.Decide(client);
        if (answer is null)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NotBootClient, request);
        }

        var reply = NewReply(request, type == DhcpMessageType.Discover ? DhcpMessageType.Offer : DhcpMessageType.Ack);
        reply.ClientAddress = request.ClientAddress;
        AddBootOptions(reply, request, client, answer, proxy: true);
        EchoRelayInformation(reply, request);

        // The boot service answers whoever asked, at the port it asked from (PXE 2.1 section 2.2.5).
        var destination = onBootPort && !context.Source.Address.Equals(IPAddress.Any)
            ? context.Source
            : Destination(request, context, DhcpMessageType.Offer);
        return Encode(reply, request, destination, context.LocalPort);
    }

    // ---- replies ------------------------------------------------------------------------------

    private DhcpMessage NewReply(DhcpMessage request, DhcpMessageType type)
    {
        var reply = new DhcpMessage
        {
            Op = BootOp.BootReply,
            HardwareType = request.HardwareType,
            HardwareLength = request.HardwareLength,
            TransactionId = request.TransactionId,
            Flags = request.Flags,
            RelayAddress = request.RelayAddress,
            ClientHardwareAddress = (byte[])request.ClientHardwareAddress.Clone(),
            ServerAddress = _options.ServerAddress,
        };
        reply.Options.MessageType = type;
        reply.Options.SetAddress(DhcpOptionCode.ServerIdentifier, _options.ServerAddress);
        return reply;
    }

    private DhcpOutcome Reply(DhcpMessageType type, DhcpMessage request, DhcpReceiveContext context, DhcpSubnet subnet, Ipv4Address address, bool inform = false)
    {
        var reply = NewReply(request, type);
        reply.YourAddress = address;

        // RFC 2131 table 3: ciaddr is copied only into an ACK; an ACK to INFORM carries no lease time.
        if (type == DhcpMessageType.Ack)
        {
            reply.ClientAddress = request.ClientAddress;
        }

        if (!inform)
        {
            var seconds = (uint)Math.Min(uint.MaxValue - 1, subnet.LeaseTime.TotalSeconds);
            reply.Options.SetUInt32(DhcpOptionCode.IPAddressLeaseTime, seconds);
            reply.Options.SetUInt32(DhcpOptionCode.RenewalTime, seconds / 2);
            reply.Options.SetUInt32(DhcpOptionCode.RebindingTime, (uint)(seconds * 7UL / 8));
        }

        reply.Options.SetAddress(DhcpOptionCode.SubnetMask, subnet.Mask);
        if (subnet.Router is { } router)
        {
            reply.Options.SetAddresses(DhcpOptionCode.Router, [router]);
        }

        if (subnet.DnsServers.Count > 0)
        {
            reply.Options.SetAddresses(DhcpOptionCode.DomainNameServer, subnet.DnsServers);
        }

        if (subnet.DomainName is { Length: > 0 } domain)
        {
            reply.Options.SetString(DhcpOptionCode.DomainName, domain);
        }

        if (_reservations.Find(request)?.HostName is { Length: > 0 } host)
        {
            reply.Options.SetString(DhcpOptionCode.HostName, host);
        }

        // Full mode: boot clients, and any client that asks for a boot file name (option 55 lists 67).
        var client = BootClient.From(request);
        if ((client.IsBootClient || client.RequestsBootFile) && _bootPolicy.Decide(client) is { } answer)
        {
            AddBootOptions(reply, request, client, answer, proxy: false);
        }

        // This server owns the segment, so no ProxyDHCP offer will come: tell iPXE not to wait for one
        // (option 175 sub-option 176, read from the OFFER; about 3 s per boot). Never in proxy mode,
        // where the ProxyDHCP offer is the point.
        if (client.IsIpxe)
        {
            reply.Options.Set(DhcpOptionCode.IpxeEncapsulated, IpxeEncapsulatedOptions.NoPxeDhcpValue());
        }

        EchoRelayInformation(reply, request);
        return Encode(reply, request, Destination(request, context, type), context.LocalPort);
    }

    private void AddBootOptions(DhcpMessage reply, DhcpMessage request, BootClient client, BootAnswer answer, bool proxy)
    {
        reply.BootFile = answer.BootFile.Length < DhcpMessage.FileLength ? answer.BootFile : string.Empty;
        // A proxyDHCP reply is recognised by option 60 "PXEClient" (PXE 2.1 section 2.2.5): without it
        // an iPXE ROM (which also says PXEClient) discards the address-less offer and never asks for its boot file.
        if ((answer.VendorClass ?? (proxy ? "PXEClient" : null)) is { } vendor)
        {
            reply.Options.SetString(DhcpOptionCode.VendorClassIdentifier, vendor);
        }

        var asked = request.Options.ParameterRequestList;
        if (asked.Contains(DhcpOptionCode.BootFileName) || reply.BootFile.Length == 0)
        {
            reply.Options.SetString(DhcpOptionCode.BootFileName, answer.BootFile);
        }

        if (asked.Contains(DhcpOptionCode.TftpServerName))
        {
            reply.Options.SetString(DhcpOptionCode.TftpServerName, _options.ServerAddress.ToString());
        }

        // A PXE ROM takes the file from this reply only if option 43 says so (PXE 2.1 table 2-1);
        // iPXE and UEFI HTTP clients do not need it.
        if (client.IsPxeClient && !client.IsIpxe && (proxy || asked.Contains(DhcpOptionCode.VendorSpecific)))
        {
            reply.Options.Set(DhcpOptionCode.VendorSpecific, PxeVendorOptions.BootFromReply());
        }

        if (proxy && request.Options.Get(DhcpOptionCode.ClientMachineId) is { } uuid)
        {
            reply.Options.Set(DhcpOptionCode.ClientMachineId, uuid);
        }
    }

    /// <summary>RFC 3046 section 2.2: option 82 is copied into every reply to a relayed request.</summary>
    private static void EchoRelayInformation(DhcpMessage reply, DhcpMessage request)
    {
        if (request.Options.Get(DhcpOptionCode.RelayAgentInformation) is { } info)
        {
            reply.Options.Remove(DhcpOptionCode.RelayAgentInformation);
            reply.Options.Set(DhcpOptionCode.RelayAgentInformation, info);
        }
    }

    private DhcpOutcome Nak(DhcpMessage request, DhcpReceiveContext context, string message)
    {
        var reply = NewReply(request, DhcpMessageType.Nak);
        reply.ServerAddress = Ipv4Address.Any;
        reply.Options.SetString(DhcpOptionCode.Message, message);
        if (!request.RelayAddress.IsAny)
        {
            // RFC 2131 section 4.3.2: a NAK through a relay is sent with the broadcast bit set.
            reply.IsBroadcast = true;
        }

        EchoRelayInformation(reply, request);
        return Encode(reply, request, Destination(request, context, DhcpMessageType.Nak), context.LocalPort);
    }

    /// <summary>
    /// RFC 2131 section 4.1: relayed → the relay's server port; NAK → broadcast; ciaddr set → unicast
    /// to it; otherwise broadcast. (Unicast to yiaddr without ARP needs a raw socket, so a client that
    /// asks for unicast gets a broadcast, which every client accepts.)
    /// </summary>
    private static IPEndPoint Destination(DhcpMessage request, DhcpReceiveContext context, DhcpMessageType type)
    {
        var clientPort = context.Source.Port is > 0 and not ServerPort ? context.Source.Port : ClientPort;
        if (!request.RelayAddress.IsAny)
        {
            return new IPEndPoint(request.RelayAddress.ToIPAddress(), context.Source.Port > 0 ? context.Source.Port : ServerPort);
        }

        if (type != DhcpMessageType.Nak && !request.ClientAddress.IsAny)
        {
            return new IPEndPoint(request.ClientAddress.ToIPAddress(), clientPort);
        }

        return new IPEndPoint(LimitedBroadcast, clientPort);
    }

    private DhcpOutcome Encode(DhcpMessage reply, DhcpMessage request, IPEndPoint destination, int localPort)
    {
        // RFC 2131 section 2: replies fit in 576 bytes unless the client allows more (option 57).
        var max = request.Options.GetUInt16(DhcpOptionCode.MaximumMessageSize) is { } m and >= DhcpMessage.MinimumMaxMessageSize
            ? Math.Min((int)m, 1472)
            : DhcpMessage.MinimumMaxMessageSize;
        Span<byte> buffer = stackalloc byte[1472];
        if (!reply.TryWrite(buffer[..max], out var written))
        {
            reply.Options.Remove(DhcpOptionCode.VendorSpecific);
            if (!reply.TryWrite(buffer[..max], out written))
            {
                return DhcpOutcome.Ignored(DhcpDropReason.Malformed, request);
            }
        }

        return new DhcpOutcome(new DhcpReply(buffer[..written].ToArray(), destination, localPort, reply.Options.MessageType!.Value, reply), null, DhcpReadError.None, request);
    }

    private int FindSubnet(Ipv4Address linkAddress)
    {
        for (var i = 0; i < _options.Subnets.Count; i++)
        {
            if (_options.Subnets[i].Contains(linkAddress))
            {
                return i;
            }
        }

        return linkAddress == _options.ServerAddress && _options.Subnets.Count == 1 ? 0 : -1;
    }

    /// <summary>
    /// True when an option the lease keeps (61, 12, 82) is longer than <see cref="MaxLeaseOptionLength"/>:
    /// only RFC 3396 concatenation of several instances makes one that long.
    /// </summary>
    private static bool HasOversizedLeaseOption(DhcpMessage request) =>
        request.Options.Get(DhcpOptionCode.ClientIdentifier) is { Length: > MaxLeaseOptionLength }
        || request.Options.Get(DhcpOptionCode.HostName) is { Length: > MaxLeaseOptionLength }
        || request.Options.Get(DhcpOptionCode.RelayAgentInformation) is { Length: > MaxLeaseOptionLength };

    /// <summary>RFC 2131 section 4.2: option 61 when present, otherwise htype and chaddr.</summary>
    private static string ClientIdOf(DhcpMessage request) =>
        request.Options.Get(DhcpOptionCode.ClientIdentifier) is { Length: > 0 } id
            ? "id:" + Convert.ToHexString(id)
            : "hw:" + Convert.ToHexString(request.HardwareAddress);
}
