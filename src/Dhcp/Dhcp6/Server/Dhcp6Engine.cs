using System.Net;
using System.Text;
using Kldload.Dhcp.Dhcp6.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Dhcp6.Server;

/// <summary>
/// The DHCPv6 server logic (RFC 8415 section 18.3) for full and proxy mode: datagram in, reply out,
/// with RFC 5970 boot options for network boot clients. No sockets and no timers: time comes from
/// the injected <see cref="TimeProvider"/>, leases go to the injected <see cref="IDhcp6LeaseStore"/>,
/// boot answers come from the same <see cref="IDhcpBootPolicy"/> DHCPv4 uses. Calls are serialised by
/// an internal lock; the server loop is the only caller on the hot path.
/// </summary>
public sealed class Dhcp6Engine
{
    /// <summary>The client port (RFC 8415 section 7.2).</summary>
    public const int ClientPort = 546;

    /// <summary>The server and relay agent port (RFC 8415 section 7.2).</summary>
    public const int ServerPort = 547;

    /// <summary>All_DHCP_Relay_Agents_and_Servers (RFC 8415 section 7.1).</summary>
    public static readonly IPAddress AllRelayAgentsAndServers = IPAddress.Parse("ff02::1:2");

    private readonly Dhcp6ServerOptions _options;
    private readonly IDhcp6LeaseStore _store;
    private readonly IDhcpBootPolicy _bootPolicy;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, Dhcp6Lease> _byAddress = [];
    private readonly Dictionary<(string Duid, uint Iaid), IPAddress> _byIa = [];
    private readonly Dictionary<IPAddress, (string Duid, uint Iaid, DateTimeOffset Until)> _advertised = [];
    private readonly Dictionary<(string Duid, uint Iaid), IPAddress> _advertisedByIa = [];
    private readonly Queue<IPAddress> _advertiseOrder = new();
    private readonly Dictionary<Duid, Dhcp6Reservation> _reservedByDuid = [];
    private readonly Dictionary<string, Dhcp6Reservation> _reservedByMac = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<IPAddress> _reservedAddresses = [];
    private readonly UInt128[] _cursor;

    public Dhcp6Engine(Dhcp6ServerOptions options, IDhcp6LeaseStore store, IDhcpBootPolicy bootPolicy, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(bootPolicy);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _store = store;
        _bootPolicy = bootPolicy;
        _time = time;
        _cursor = options.Subnets.Select(s => Ipv6Arithmetic.ToUInt128(s.PoolStart)).ToArray();
        foreach (var r in options.Reservations)
        {
            _reservedAddresses.Add(r.Address);
            if (r.Duid is { } duid)
            {
                _reservedByDuid[duid] = r;
            }
            else if (r.HardwareAddress is { } mac)
            {
                _reservedByMac[mac] = r;
            }
        }

        foreach (var lease in store.LoadAll())
        {
            _byAddress[lease.Address] = lease;
            if (lease.State != DhcpLeaseState.Declined)
            {
                _byIa[(lease.ClientDuid, lease.Iaid)] = lease.Address;
            }
        }
    }

    public Dhcp6EngineCounters Counters { get; } = new();

    public Dhcp6ServerMode Mode => _options.Mode;

    /// <summary>A copy of every lease record (one per address).</summary>
    public IReadOnlyList<Dhcp6Lease> Leases
    {
        get
        {
            lock (_lock)
            {
                return _byAddress.Values.ToList();
            }
        }
    }

    /// <summary>The lease record of <paramref name="address"/> (any state), or null.</summary>
    public Dhcp6Lease? Find(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_lock)
        {
            return _byAddress.GetValueOrDefault(address);
        }
    }

    /// <summary>
    /// Puts <paramref name="address"/> back in the pool now, for an operator: an Active (unexpired) lease
    /// becomes Released as if its client had sent a Release (RFC 8415 section 18.3.7), and a Declined
    /// address leaves its hold early. Durable when this returns.
    /// </summary>
    /// <returns>The record as it was before, or null when there is none or it is expired or released already.</returns>
    public Dhcp6Lease? ReleaseByOperator(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Dhcp6Lease before;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            if (!_byAddress.TryGetValue(address, out var lease)
                || !(lease.State == DhcpLeaseState.Declined || (lease.State == DhcpLeaseState.Active && lease.Expires > now)))
            {
                return null;
            }

            before = lease;
            var released = lease with { State = DhcpLeaseState.Released, Expires = lease.State == DhcpLeaseState.Declined ? now : lease.Expires };
            _byAddress[address] = released;
            _store.Save(released);
        }

        // Outside the lock, as the DHCPv4 engine does: the server loop keeps answering while the disk works (the store is thread-safe).
        _store.Flush();
        return before;
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

    /// <summary>Answers one datagram that arrived from <paramref name="source"/>. Never throws for any input bytes.</summary>
    public Dhcp6Outcome Handle(ReadOnlySpan<byte> datagram, IPEndPoint source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!Dhcp6Envelope.TryRead(datagram, out var envelope, out var error))
        {
            Counters.CountMalformed(error);
            return new Dhcp6Outcome(null, Dhcp6DropReason.Malformed, error, null);
        }

        var request = envelope!.Message;
        Counters.CountReceived(request.MessageType);
        if (envelope.Relays.Count > 0 && envelope.Relays[0].MessageType == Dhcp6MessageType.RelayReply)
        {
            Counters.CountReceived(Dhcp6MessageType.RelayReply);
            return Drop(Dhcp6DropReason.NotARequest, envelope);
        }

        if (envelope.Relays.Count > 0)
        {
            Counters.CountReceived(Dhcp6MessageType.RelayForward);
        }

        if (Validate(request) is { } invalid)
        {
            return Drop(invalid, envelope);
        }

        lock (_lock)
        {
            var outcome = _options.Mode == Dhcp6ServerMode.Proxy ? HandleProxy(envelope, source) : HandleFull(envelope, source);
            if (outcome.Drop is { } reason)
            {
                Counters.CountDropped(reason);
            }
            else if (outcome.Reply is { } reply)
            {
                Counters.CountSent(reply.Message.MessageType);
                if (envelope.Relays.Count > 0)
                {
                    Counters.CountSent(Dhcp6MessageType.RelayReply);
                }
            }

            return outcome;
        }
    }

    /// <summary>RFC 8415 section 16: which identifiers each message type must and must not carry.</summary>
    private Dhcp6DropReason? Validate(Dhcp6Message request)
    {
        var type = request.MessageType;
        if (type is Dhcp6MessageType.Advertise or Dhcp6MessageType.Reply or Dhcp6MessageType.Reconfigure)
        {
            return Dhcp6DropReason.NotARequest;
        }

        var clientId = request.Options.ClientId;
        var serverId = request.Options.ServerId;
        if (type != Dhcp6MessageType.InformationRequest && clientId is null)
        {
            return Dhcp6DropReason.InvalidMessage;
        }

        switch (type)
        {
            case Dhcp6MessageType.Solicit or Dhcp6MessageType.Confirm or Dhcp6MessageType.Rebind:
                return serverId is null ? null : Dhcp6DropReason.InvalidMessage;
            case Dhcp6MessageType.Request or Dhcp6MessageType.Renew or Dhcp6MessageType.Release or Dhcp6MessageType.Decline:
                if (serverId is null)
                {
                    return Dhcp6DropReason.InvalidMessage;
                }

                return serverId.Equals(_options.ServerDuid) ? null : Dhcp6DropReason.NotForUs;
            default:
                return serverId is null || serverId.Equals(_options.ServerDuid) ? null : Dhcp6DropReason.NotForUs;
        }
    }

    private Dhcp6Outcome HandleProxy(Dhcp6Envelope envelope, IPEndPoint source)
    {
        var request = envelope.Message;
        var client = BootClientOf(envelope, source);
        if (!client.IsBootClient)
        {
            return Ignored(Dhcp6DropReason.NotBootClient, envelope);
        }

        var replyType = request.MessageType switch
        {
            Dhcp6MessageType.Solicit => Dhcp6MessageType.Advertise,
            Dhcp6MessageType.Request or Dhcp6MessageType.InformationRequest => Dhcp6MessageType.Reply,
            _ => (Dhcp6MessageType?)null,
        };
        if (replyType is null)
        {
            // Renew, Rebind, Release, Decline, Confirm concern addresses, which another server owns.
            return Ignored(Dhcp6DropReason.NotForUs, envelope);
        }

        var reply = StartReply(request, replyType.Value);
        if (!AddBootOptions(reply, client))
        {
            return Ignored(Dhcp6DropReason.NotBootClient, envelope);
        }

        return Send(envelope, source, reply, durable: false);
    }

    private Dhcp6Outcome HandleFull(Dhcp6Envelope envelope, IPEndPoint source)
    {
        var request = envelope.Message;
        var subnetIndex = SubnetOf(envelope);
        if (request.MessageType == Dhcp6MessageType.InformationRequest)
        {
            var info = StartReply(request, Dhcp6MessageType.Reply);
            AddCommonOptions(info, request, subnetIndex is { } si ? _options.Subnets[si] : null);
            AddBootOptions(info, BootClientOf(envelope, source));
            return Send(envelope, source, info, durable: false);
        }

        if (subnetIndex is not { } index)
        {
            return Ignored(Dhcp6DropReason.NoSubnet, envelope);
        }

        var subnet = _options.Subnets[index];
        var duid = request.Options.ClientId!;
        var now = _time.GetUtcNow();
        switch (request.MessageType)
        {
            case Dhcp6MessageType.Solicit:
                {
                    var commit = request.Options.RapidCommit;
                    var reply = StartReply(request, commit ? Dhcp6MessageType.Reply : Dhcp6MessageType.Advertise);
                    if (commit)
                    {
                        reply.Options.Add(Dhcp6OptionCode.RapidCommit, []);
                    }

                    AssignAll(envelope, source, index, subnet, duid, now, reply, commit, renewOnly: false);
                    AddCommonOptions(reply, request, subnet);
                    AddBootOptions(reply, BootClientOf(envelope, source));
                    return Send(envelope, source, reply, durable: commit);
                }

            case Dhcp6MessageType.Request or Dhcp6MessageType.Rebind or Dhcp6MessageType.Renew:
                {
                    var reply = StartReply(request, Dhcp6MessageType.Reply);
                    var any = AssignAll(envelope, source, index, subnet, duid, now, reply, commit: true, renewOnly: request.MessageType == Dhcp6MessageType.Renew);
                    if (request.MessageType == Dhcp6MessageType.Rebind && !any)
                    {
                        return Ignored(Dhcp6DropReason.NoBinding, envelope);
                    }

                    AddCommonOptions(reply, request, subnet);
                    AddBootOptions(reply, BootClientOf(envelope, source));
                    return Send(envelope, source, reply, durable: true);
                }

            case Dhcp6MessageType.Release or Dhcp6MessageType.Decline:
                {
                    var reply = StartReply(request, Dhcp6MessageType.Reply);
                    var decline = request.MessageType == Dhcp6MessageType.Decline;
                    foreach (var ia in request.Options.IaNas)
                    {
                        var found = false;
                        foreach (var a in ia.Options.IaAddresses)
                        {
                            if (_byAddress.TryGetValue(a.Address, out var lease) && lease.ClientDuid == duid.ToString() && lease.Iaid == ia.Iaid)
                            {
                                found = true;
                                var changed = lease with
                                {
                                    State = decline ? DhcpLeaseState.Declined : DhcpLeaseState.Released,
                                    Expires = decline ? now + _options.DeclineHoldTime : lease.Expires,
                                };
                                _byAddress[a.Address] = changed;
                                if (decline)
                                {
                                    _byIa.Remove((lease.ClientDuid, lease.Iaid));
                                }

                                _store.Save(changed);
                            }
                        }

                        if (!found)
                        {
                            // RFC 8415 sections 18.3.7 and 18.3.8: an IA we hold no binding for is named with NoBinding.
                            var noBinding = new IaNa { Iaid = ia.Iaid };
                            noBinding.Options.SetStatus(Dhcp6StatusCode.NoBinding, "no binding for this IA");
                            reply.Options.Add(Dhcp6OptionCode.IaNa, noBinding.ToArray());
                        }
                    }

                    reply.Options.SetStatus(Dhcp6StatusCode.Success, decline ? "declined" : "released");
                    return Send(envelope, source, reply, durable: true);
                }

            case Dhcp6MessageType.Confirm:
                {
                    var addresses = request.Options.IaNas.SelectMany(ia => ia.Options.IaAddresses).Select(a => a.Address).ToList();
                    if (addresses.Count == 0)
                    {
                        return Ignored(Dhcp6DropReason.NothingToConfirm, envelope);
                    }

                    var reply = StartReply(request, Dhcp6MessageType.Reply);
                    var onLink = addresses.All(subnet.Prefix.Contains);
                    reply.Options.SetStatus(onLink ? Dhcp6StatusCode.Success : Dhcp6StatusCode.NotOnLink, onLink ? "on link" : "not on link");
                    return Send(envelope, source, reply, durable: false);
                }

            default:
                return Ignored(Dhcp6DropReason.NotARequest, envelope);
        }
    }

    /// <summary>
    /// Gives each IA_NA of the request an address (or a status) and adds it to <paramref name="reply"/>.
    /// With <paramref name="commit"/> the binding is saved; otherwise the address is held for the
    /// client for <see cref="Dhcp6ServerOptions.AdvertiseHoldTime"/>. With <paramref name="renewOnly"/>
    /// only an existing binding is extended (RFC 8415 section 18.3.4). Returns true when any IA got an address.
    /// </summary>
    private bool AssignAll(Dhcp6Envelope envelope, IPEndPoint source, int subnetIndex, Dhcp6Subnet subnet, Duid duid, DateTimeOffset now, Dhcp6Message reply, bool commit, bool renewOnly)
    {
        var request = envelope.Message;
        var duidText = duid.ToString();
        var mac = MacOf(envelope, source);
        var any = false;
        foreach (var ia in request.Options.IaNas)
        {
            var answer = new IaNa { Iaid = ia.Iaid };
            IPAddress? address;
            if (renewOnly)
            {
                address = _byIa.TryGetValue((duidText, ia.Iaid), out var bound) && subnet.Prefix.Contains(bound) ? bound : null;
                if (address is null)
                {
                    answer.Options.SetStatus(Dhcp6StatusCode.NoBinding, "no binding for this IA");
                    reply.Options.Add(Dhcp6OptionCode.IaNa, answer.ToArray());
                    continue;
                }
            }
            else
            {
                address = Choose(subnetIndex, subnet, duid, mac, ia, now);
            }

            if (address is null)
            {
                answer.Options.SetStatus(Dhcp6StatusCode.NoAddrsAvail, "no addresses available");
                reply.Options.Add(Dhcp6OptionCode.IaNa, answer.ToArray());
                continue;
            }

            any = true;
            var preferred = Seconds(subnet.PreferredLifetime);
            var valid = Seconds(subnet.ValidLifetime);
            answer.T1 = preferred / 2;
            answer.T2 = (uint)(preferred * 4UL / 5);
            answer.Options.Add(Dhcp6OptionCode.IaAddress, new IaAddress { Address = address, PreferredLifetime = preferred, ValidLifetime = valid }.ToArray());
            reply.Options.Add(Dhcp6OptionCode.IaNa, answer.ToArray());
            if (commit)
            {
                Bind(envelope, duidText, ia.Iaid, mac, address, now + subnet.ValidLifetime);
            }
            else
            {
                Hold(duidText, ia.Iaid, address, now);
            }
        }

        return any;
    }

    private void Bind(Dhcp6Envelope envelope, string duid, uint iaid, string mac, IPAddress address, DateTimeOffset expires)
    {
        if (_byIa.TryGetValue((duid, iaid), out var previous) && !previous.Equals(address) && _byAddress.TryGetValue(previous, out var old))
        {
            // The IA moved to another address (another link, a reservation added): the old one is free again.
            var released = old with { State = DhcpLeaseState.Released };
            _byAddress[previous] = released;
            _store.Save(released);
        }

        var relay = envelope.FirstHopRelay;
        var lease = new Dhcp6Lease
        {
            Address = address,
            ClientDuid = duid,
            Iaid = iaid,
            HardwareAddress = mac,
            State = DhcpLeaseState.Active,
            Expires = expires,
            RelayLinkAddress = relay?.LinkAddress,
            InterfaceId = relay?.InterfaceId,
            RemoteId = relay?.Options.Get(Dhcp6OptionCode.RemoteId),
        };
        _byAddress[address] = lease;
        _byIa[(duid, iaid)] = address;
        if (_advertised.Remove(address))
        {
            _advertisedByIa.Remove((duid, iaid));
        }

        _store.Save(lease);
    }

    private void Hold(string duid, uint iaid, IPAddress address, DateTimeOffset now)
    {
        if (!_advertised.ContainsKey(address))
        {
            while (_advertised.Count >= _options.MaxPendingAdvertises && _advertiseOrder.TryDequeue(out var oldest))
            {
                if (_advertised.Remove(oldest, out var evicted))
                {
                    _advertisedByIa.Remove((evicted.Duid, evicted.Iaid));
                }
            }

            _advertiseOrder.Enqueue(address);
        }

        _advertised[address] = (duid, iaid, now + _options.AdvertiseHoldTime);
        _advertisedByIa[(duid, iaid)] = address;
    }

    /// <summary>
    /// The address for one IA: a reservation (by DUID, then by MAC), the IA's current binding, the
    /// address advertised to it, the address it asks for if free, or the next free one in the pool.
    /// </summary>
    private IPAddress? Choose(int subnetIndex, Dhcp6Subnet subnet, Duid duid, string mac, IaNa ia, DateTimeOffset now)
    {
        var duidText = duid.ToString();
        if ((_reservedByDuid.GetValueOrDefault(duid) ?? (mac.Length > 0 ? _reservedByMac.GetValueOrDefault(mac) : null)) is { } reservation
            && subnet.Prefix.Contains(reservation.Address))
        {
            return reservation.Address;
        }

        if (_byIa.TryGetValue((duidText, ia.Iaid), out var bound) && InPool(subnet, bound) && !_reservedAddresses.Contains(bound))
        {
            return bound;
        }

        if (_advertisedByIa.TryGetValue((duidText, ia.Iaid), out var advertised) && InPool(subnet, advertised) && IsFree(advertised, duidText, ia.Iaid, now))
        {
            return advertised;
        }

        foreach (var hint in ia.Options.IaAddresses)
        {
            if (InPool(subnet, hint.Address) && IsFree(hint.Address, duidText, ia.Iaid, now))
            {
                return hint.Address;
            }
        }

        var start = Ipv6Arithmetic.ToUInt128(subnet.PoolStart);
        var size = subnet.PoolSize;
        // Each taken address can block one step, so this many steps find a free one if there is one.
        var taken = (UInt128)(_byAddress.Count + _advertised.Count + _reservedAddresses.Count) + 1;
        var steps = size < taken ? size : taken;
        var cursor = _cursor[subnetIndex];
        for (UInt128 i = 0; i < steps; i++)
        {
            var candidate = Ipv6Arithmetic.FromUInt128(cursor);
            cursor = cursor - start + 1 >= size ? start : cursor + 1;
            if (IsFree(candidate, duidText, ia.Iaid, now))
            {
                _cursor[subnetIndex] = cursor;
                return candidate;
            }
        }

        _cursor[subnetIndex] = cursor;
        return null;
    }

    private bool IsFree(IPAddress address, string duid, uint iaid, DateTimeOffset now)
    {
        if (_reservedAddresses.Contains(address))
        {
            return false;
        }

        if (_byAddress.TryGetValue(address, out var lease) && lease.IsHeldAt(now) && !(lease.ClientDuid == duid && lease.Iaid == iaid && lease.State == DhcpLeaseState.Active))
        {
            return false;
        }

        if (_advertised.TryGetValue(address, out var hold) && hold.Until > now && !(hold.Duid == duid && hold.Iaid == iaid))
        {
            return false;
        }

        return true;
    }

    private static bool InPool(Dhcp6Subnet subnet, IPAddress address)
    {
        if (!subnet.Prefix.Contains(address))
        {
            return false;
        }

        var value = Ipv6Arithmetic.ToUInt128(address);
        return value >= Ipv6Arithmetic.ToUInt128(subnet.PoolStart) && value <= Ipv6Arithmetic.ToUInt128(subnet.PoolEnd);
    }

    /// <summary>
    /// The client's link: the first-hop relay's link-address when relayed (RFC 8415 section 13.1), else
    /// kldload's own link (the subnet holding the server address, or the first subnet).
    /// </summary>
    private int? SubnetOf(Dhcp6Envelope envelope)
    {
        var subnets = _options.Subnets;
        if (envelope.FirstHopRelay is { } relay)
        {
            if (relay.LinkAddress.Equals(IPAddress.IPv6Any))
            {
                return null;
            }

            for (var i = 0; i < subnets.Count; i++)
            {
                if (subnets[i].Prefix.Contains(relay.LinkAddress))
                {
                    return i;
                }
            }

            return null;
        }

        for (var i = 0; i < subnets.Count; i++)
        {
            if (subnets[i].Prefix.Contains(_options.ServerAddress))
            {
                return i;
            }
        }

        return subnets.Count > 0 ? 0 : null;
    }

    private Dhcp6Message StartReply(Dhcp6Message request, Dhcp6MessageType type)
    {
        var reply = request.CreateReply(type);
        reply.Options.Add(Dhcp6OptionCode.ServerId, _options.ServerDuid.Bytes);
        if (request.Options.Get(Dhcp6OptionCode.ClientId) is { } clientId)
        {
            reply.Options.Add(Dhcp6OptionCode.ClientId, clientId);
        }

        return reply;
    }

    private static void AddCommonOptions(Dhcp6Message reply, Dhcp6Message request, Dhcp6Subnet? subnet)
    {
        if (subnet is { DnsServers.Count: > 0 } && request.Options.RequestedOptions.Contains(Dhcp6OptionCode.DnsServers))
        {
            reply.Options.SetDnsServers(subnet.DnsServers);
        }
    }

    /// <summary>
    /// Adds OPTION_BOOTFILE_URL for a boot client, and OPTION_VENDOR_CLASS (enterprise 343,
    /// <c>PXEClient</c> or <c>HTTPClient</c>). A boot file name is made a <c>tftp://[server]/name</c> URL
    /// (RFC 5970 section 3.1, RFC 3617). Returns false when the policy gives this client nothing.
    /// <para>
    /// In Full mode <c>PXEClient</c> is left out: UEFI's PXE driver (EDK2 <c>PxeBcDhcp6.c</c>) takes an
    /// offer with an address and <c>PXEClient</c> as a "DHCP + BINL" offer and then asks a PXE boot
    /// server on UDP 4011 of the boot URL's host for the file again, while an offer with an address and a
    /// boot file URL but no <c>PXEClient</c> is complete by itself. A proxy answer (no address) needs
    /// <c>PXEClient</c> to be taken as a PXE offer at all.
    /// </para>
    /// </summary>
    private bool AddBootOptions(Dhcp6Message reply, BootClient client)
    {
        if (!client.IsBootClient && !client.RequestsBootFile)
        {
            return false;
        }

        if (_bootPolicy.Decide(client) is not { } answer)
        {
            return false;
        }

        var url = Uri.TryCreate(answer.BootFile, UriKind.Absolute, out var absolute) && absolute.Scheme is "http" or "https" or "tftp"
            ? answer.BootFile
            : $"tftp://[{_options.ServerAddress}]/{answer.BootFile.TrimStart('/')}";
        reply.Options.Add(Dhcp6OptionCode.BootFileUrl, Encoding.UTF8.GetBytes(url));
        if (answer.VendorClass is { } vendor && !(vendor == "PXEClient" && _options.Mode == Dhcp6ServerMode.Full))
        {
            reply.Options.Add(Dhcp6OptionCode.VendorClass, new VendorClass(VendorClass.EnterpriseIntel, [Encoding.ASCII.GetBytes(vendor)]).ToArray());
        }

        return true;
    }

    /// <summary>What the boot policy needs to know, read from DHCPv6 options (RFC 5970 sections 3.3, 3.4).</summary>
    private static BootClient BootClientOf(Dhcp6Envelope envelope, IPEndPoint source)
    {
        var options = envelope.Message.Options;
        var vendor = options.VendorClass;
        var arches = options.ClientArchitectures;
        return new BootClient
        {
            HardwareAddress = MacOf(envelope, source),
            IsIpv6 = true,
            Architecture = arches.Count > 0 ? arches[0] : null,
            IsPxeClient = vendor?.IsPxeClient == true,
            IsHttpClient = vendor?.IsHttpClient == true,
            IsIpxe = options.UserClasses.Contains("iPXE"),
            RequestsBootFile = options.RequestedOptions.Contains(Dhcp6OptionCode.BootFileUrl),
        };
    }

    /// <summary>
    /// The client's MAC: from its DUID (LL or LLT), else from the first-hop relay's RFC 6939 option,
    /// else, for a client on our link, from the modified EUI-64 interface identifier of its link-local
    /// source address (RFC 4291 appendix A; UEFI's PXE client identifies itself by DUID-UUID but forms its
    /// link-local address from the MAC); empty when none has one.
    /// </summary>
    internal static string MacOf(Dhcp6Envelope envelope, IPEndPoint source)
    {
        var mac = envelope.Message.Options.ClientId?.MacAddress;
        if (mac is null && envelope.FirstHopRelay?.Options.ClientLinkLayerAddress is { HardwareType: Duid.HardwareTypeEthernet, Address.Length: 6 } lla)
        {
            mac = lla.Address;
        }

        if (mac is null && envelope.Relays.Count == 0 && source.Address.IsIPv6LinkLocal)
        {
            var b = source.Address.GetAddressBytes();
            if (b[11] == 0xFF && b[12] == 0xFE)
            {
                mac = [(byte)(b[8] ^ 0x02), b[9], b[10], b[13], b[14], b[15]];
            }
        }

        return mac is null ? string.Empty : string.Join(':', mac.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
    }

    private static uint Seconds(TimeSpan span) => (uint)Math.Clamp(span.TotalSeconds, 0, uint.MaxValue);

    private Dhcp6Outcome Send(Dhcp6Envelope envelope, IPEndPoint source, Dhcp6Message reply, bool durable)
    {
        var payload = envelope.Encapsulate(reply);
        return new Dhcp6Outcome(new Dhcp6Reply(payload, source, reply) { NeedsDurableLease = durable }, null, Dhcp6ReadError.None, envelope);
    }

    private static Dhcp6Outcome Ignored(Dhcp6DropReason reason, Dhcp6Envelope envelope) => Dhcp6Outcome.Ignored(reason, envelope);

    private Dhcp6Outcome Drop(Dhcp6DropReason reason, Dhcp6Envelope envelope)
    {
        Counters.CountDropped(reason);
        return Dhcp6Outcome.Ignored(reason, envelope);
    }
}
