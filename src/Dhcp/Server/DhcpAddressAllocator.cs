using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>
/// Owns the address pools and the lease indexes of full mode: the lease record of each address, the
/// address of each client, the offers on hold (<see cref="PendingOffers"/>) and the pool cursor of each
/// subnet. It answers "which address may this client have" and records what the state machine decided,
/// writing each changed lease to the <see cref="ILeaseStore"/>; it never builds or reads a reply.
/// Not thread-safe: <see cref="DhcpEngine"/> serialises every call under its lock.
/// </summary>
internal sealed class DhcpAddressAllocator
{
    private readonly DhcpServerOptions _options;
    private readonly ReservationBook _reservations;
    private readonly ILeaseStore _store;
    private readonly Dictionary<uint, DhcpLease> _byAddress = [];
    private readonly Dictionary<string, uint> _byClient = [];
    private readonly PendingOffers _offers;
    private readonly uint[] _cursor;

    /// <summary>Builds the indexes from every lease the store holds.</summary>
    public DhcpAddressAllocator(DhcpServerOptions options, ReservationBook reservations, ILeaseStore store)
    {
        _options = options;
        _reservations = reservations;
        _store = store;
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

    /// <summary>
    /// Which free addresses this server may hand out (load balancing while the peer is alive: its half);
    /// null for all. A client's previous address is not filtered: it is that client's, not free.
    /// </summary>
    public Func<Ipv4Address, bool>? MayAllocate { get; set; }

    /// <summary>
    /// Lays <paramref name="stored"/> (the shared store's leases) over the indexes: on taking over a
    /// silent peer's half, this server learns every lease the peer acknowledged. A stored lease replaces
    /// the record of its address; a client is indexed at the newest (latest expiring) of its records.
    /// </summary>
    public void Reload(IEnumerable<DhcpLease> stored)
    {
        foreach (var lease in stored)
        {
            Learn(lease);
        }
    }

    /// <summary>
    /// The store refused <paramref name="conflict"/>'s lease: another client holds the address. The
    /// holder's lease replaces ours, and the refused client owns nothing there any more.
    /// </summary>
    public void LearnConflict(DhcpLeaseConflict conflict)
    {
        var refused = conflict.Refused;
        if (_byClient.TryGetValue(refused.ClientId, out var indexed) && indexed == refused.Address.Value)
        {
            _byClient.Remove(refused.ClientId);
        }

        _offers.Remove(refused.ClientId);
        Learn(conflict.Holder);
    }

    private void Learn(DhcpLease lease)
    {
        var address = lease.Address.Value;
        if (_byAddress.TryGetValue(address, out var previous) && previous.ClientId != lease.ClientId
            && _byClient.TryGetValue(previous.ClientId, out var indexed) && indexed == address)
        {
            _byClient.Remove(previous.ClientId);
        }

        _byAddress[address] = lease;
        if (lease.State == DhcpLeaseState.Declined)
        {
            return;
        }

        if (!_byClient.TryGetValue(lease.ClientId, out var current) || current == address
            || !_byAddress.TryGetValue(current, out var other) || other.ClientId != lease.ClientId || other.Expires <= lease.Expires)
        {
            _byClient[lease.ClientId] = address;
        }
    }

    /// <summary>Offers made and not yet requested or expired at <paramref name="now"/>.</summary>
    public int PendingOfferCount(DateTimeOffset now)
    {
        _offers.Sweep(now);
        return _offers.Count;
    }

    /// <summary>Leases bound to a client at <paramref name="now"/>.</summary>
    public int ActiveLeaseCount(DateTimeOffset now) =>
        _byAddress.Values.Count(l => l.State == DhcpLeaseState.Active && l.Expires > now);

    /// <summary>A copy of every lease record (one per address).</summary>
    public List<DhcpLease> CopyLeases() => _byAddress.Values.ToList();

    /// <summary>The newest lease record of a hardware address.</summary>
    public DhcpLease? FindByHardwareAddress(string hardwareAddress) =>
        _byAddress.Values.Where(l => string.Equals(l.HardwareAddress, hardwareAddress, StringComparison.OrdinalIgnoreCase))
            .OrderByDescending(l => l.Expires).FirstOrDefault();

    /// <summary>The lease record of <paramref name="address"/>, whatever its state.</summary>
    public bool TryGetLease(Ipv4Address address, out DhcpLease lease) => _byAddress.TryGetValue(address.Value, out lease!);

    /// <summary>True when the client's last non-declined lease was on <paramref name="address"/>.</summary>
    public bool LastAddressOf(string clientId, Ipv4Address address) =>
        _byClient.TryGetValue(clientId, out var previous) && previous == address.Value;

    /// <summary>Every lease, by address, as the operator sees it.</summary>
    public List<DhcpLeaseEntry> ListLeases(DateTimeOffset now) =>
        _byAddress.Values.OrderBy(l => l.Address.Value).Select(l => Describe(l, now)).ToList();

    /// <summary>The index of the subnet a link address (giaddr, ciaddr or ours) is on, or -1.</summary>
    public int FindSubnet(Ipv4Address linkAddress)
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
    /// Makes room in the offer table for a client that has no live offer yet. Returns true when a live
    /// offer of another client had to be evicted (the table was full).
    /// </summary>
    public bool MakeRoomForOffer(string clientId, int subnetIndex, DateTimeOffset now) =>
        !_offers.TryGet(clientId, now, out _) && _offers.MakeRoom(subnetIndex, now) > 0;

    /// <summary>
    /// Chooses the address to offer (RFC 2131 section 4.3.1): the reservation, else the live offer, else
    /// the client's previous address, else the requested one, else the next free one from the pool
    /// cursor. A new choice is held as an offer until <paramref name="offerExpires"/>. Null when the pool
    /// is exhausted or the reservation is on another subnet.
    /// </summary>
    public Ipv4Address? Offer(DhcpMessage request, string clientId, int subnetIndex, DateTimeOffset now, DateTimeOffset offerExpires)
    {
        var address = Choose(request, clientId, subnetIndex, now, out var fromOffer);
        if (address is { } chosen && !fromOffer)
        {
            _offers.Add(clientId, chosen, offerExpires, subnetIndex);
        }

        return address;
    }

    private Ipv4Address? Choose(DhcpMessage request, string clientId, int subnetIndex, DateTimeOffset now, out bool fromOffer)
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

        var mayAllocate = MayAllocate;
        if (request.Options.GetAddress(DhcpOptionCode.RequestedIPAddress) is { } wanted && subnet.InPool(wanted) && IsFree(wanted, clientId, now)
            && (mayAllocate is null || mayAllocate(wanted)))
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
            if ((mayAllocate is null || mayAllocate(candidate)) && IsFree(candidate, clientId, now))
            {
                _cursor[subnetIndex] = cursor;
                return candidate;
            }
        }

        return null;
    }

    /// <summary>An address nobody else holds, has been offered, or has reserved; not ours or the router's.</summary>
    public bool IsFree(Ipv4Address address, string clientId, DateTimeOffset now)
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
    public bool CanGrant(DhcpMessage request, string clientId, Ipv4Address address, DhcpSubnet subnet, DateTimeOffset now)
    {
        if (_reservations.Find(request) is { } reservation)
        {
            return reservation.Address == address;
        }

        return subnet.InPool(address) && IsFree(address, clientId, now);
    }

    /// <summary>True when another client holds a lease on, or an offer of, <paramref name="address"/>.</summary>
    public bool HeldByOther(Ipv4Address address, string clientId, DateTimeOffset now) =>
        (_byAddress.TryGetValue(address.Value, out var lease) && lease.ClientId != clientId && lease.IsHeldAt(now))
        || _offers.IsOfferedToOther(address, clientId, now);

    /// <summary>
    /// Records a granted lease (an ACK): the client's offer ends, and a lease it held on another address
    /// is released so one client holds one address.
    /// </summary>
    public void Grant(DhcpLease lease, DateTimeOffset now)
    {
        _offers.Remove(lease.ClientId);
        if (_byClient.TryGetValue(lease.ClientId, out var previous) && previous != lease.Address.Value
            && _byAddress.TryGetValue(previous, out var old) && old.ClientId == lease.ClientId)
        {
            Store(old with { State = DhcpLeaseState.Released, Expires = now });
        }

        Store(lease);
    }

    /// <summary>Drops the client's offer (it chose another server).</summary>
    public void WithdrawOffer(string clientId) => _offers.Remove(clientId);

    /// <summary>
    /// RFC 2131 section 4.3.3: the address is in use on the wire; nobody gets it until
    /// <paramref name="holdUntil"/>, and the client that declined it starts over.
    /// </summary>
    public void Decline(DhcpLease lease, DateTimeOffset holdUntil)
    {
        _byClient.Remove(lease.ClientId);
        Store(lease with { State = DhcpLeaseState.Declined, ClientId = "declined", Expires = holdUntil });
    }

    /// <summary>RFC 2131 section 4.3.4: the lease ends now; the record stays so the client gets the same address next time.</summary>
    public void Release(DhcpLease lease, DateTimeOffset now) => Store(lease with { State = DhcpLeaseState.Released, Expires = now });

    /// <summary>
    /// The operator ends the lease on <paramref name="address"/>, declined or bound. Returns the lease as
    /// it was, or null when nothing held the address. The caller flushes the store.
    /// </summary>
    public DhcpLeaseEntry? ReleaseByOperator(Ipv4Address address, DateTimeOffset now)
    {
        if (!_byAddress.TryGetValue(address.Value, out var lease) || !lease.IsHeldAt(now))
        {
            return null;
        }

        var before = Describe(lease, now);
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

        return before;
    }

    /// <summary>How each pool is used at <paramref name="now"/>; an address counts once, in the first category that holds it.</summary>
    public List<DhcpPoolUsage> PoolUsage(DateTimeOffset now)
    {
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

    /// <summary>The lease as the operator sees it: its status at <paramref name="now"/>, subnet and reservation.</summary>
    public DhcpLeaseEntry Describe(DhcpLease lease, DateTimeOffset now)
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
}
