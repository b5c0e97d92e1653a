using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.RouterDiscovery;
using Kldload.Dhcp.Server;

namespace Kldload.Provisioner.Settings;

/// <summary>How kldload takes part in DHCP on the boot network.</summary>
public enum DhcpMode
{
    /// <summary>Never answer DHCP (default: a provisioner must not answer on a LAN by accident).</summary>
    Off,

    /// <summary>kldload owns the address pools and answers everything.</summary>
    Full,

    /// <summary>Another server owns addresses; kldload adds boot options for PXE clients only.</summary>
    Proxy,
}

/// <summary>One address pool (<c>Dhcp:Subnets:N</c>).</summary>
public sealed record DhcpSubnetSettings
{
    public required IPNetwork Network { get; init; }

    public required IPAddress PoolStart { get; init; }

    public required IPAddress PoolEnd { get; init; }

    public IPAddress? Router { get; init; }

    public IReadOnlyList<IPAddress> DnsServers { get; init; } = [];

    public string? DomainName { get; init; }

    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>
/// A fixed address (<c>Dhcp:Reservations:N</c>) for one MAC, one client identifier (option 61), or one
/// switch port named by a relay's option 82 (circuit id and/or remote id, each exact or a glob pattern).
/// Exactly one of <see cref="Mac"/>, <see cref="ClientId"/>, or the option 82 keys is set.
/// </summary>
public sealed record DhcpReservationSettings
{
    public required IPAddress Address { get; init; }

    public string? Hostname { get; init; }

    public PhysicalAddress? Mac { get; init; }

    /// <summary>Option 61 as the client sends it, type byte first (<c>01:52:54:00:12:34:56</c>).</summary>
    public byte[]? ClientId { get; init; }

    public RelayIdMatch? CircuitId { get; init; }

    public RelayIdMatch? RemoteId { get; init; }
}

/// <summary>The <c>Dhcp</c> section.</summary>
public sealed record DhcpSettings
{
    public DhcpMode Mode { get; init; } = DhcpMode.Off;

    /// <summary>The one interface the listener binds to and answers on.</summary>
    public string? Interface { get; init; }

    /// <summary>The address kldload uses as server identifier (option 54) and siaddr.</summary>
    public IPAddress? ServerAddress { get; init; }

    public int Port { get; init; } = 67;

    public int ProxyPort { get; init; } = 4011;

    public IReadOnlyList<DhcpSubnetSettings> Subnets { get; init; } = [];

    public IReadOnlyList<DhcpReservationSettings> Reservations { get; init; } = [];

    /// <summary>How long an address a client declined (DHCPDECLINE: in use by someone else) stays out of the pool.</summary>
    public TimeSpan DeclineHoldTime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Whether kldload answers IPv6 router solicitations on <see cref="Interface"/> with an empty router
    /// advertisement (iPXE then stops waiting about 13 s for IPv6 autoconfiguration). Auto by default:
    /// it answers only while no other router advertises on the segment.
    /// </summary>
    public RouterAdvertisementMode RouterAdvertisements { get; init; } = RouterAdvertisementMode.Auto;

    /// <summary>
    /// RFC 3074 load balancing with a second kldload on the same segment and the same PostgreSQL database
    /// (<c>docs/dhcp-ha.md</c>): None (default), Primary (buckets 0-127) or Secondary (buckets 128-255).
    /// </summary>
    public DhcpLoadBalancingRole LoadBalancing { get; init; } = DhcpLoadBalancingRole.None;

    /// <summary>How old the peer's heartbeat may be before this server answers the peer's clients too.</summary>
    public TimeSpan PeerTimeout { get; init; } = DefaultPeerTimeout;

    /// <summary>The default of <see cref="PeerTimeout"/>: ten heartbeats.</summary>
    public static readonly TimeSpan DefaultPeerTimeout = TimeSpan.FromSeconds(10);

    internal static DhcpSettings Read(SettingsReader r)
    {
        var mode = r.Enum("Dhcp:Mode", DhcpMode.Off);
        var iface = r.OptionalString("Dhcp:Interface");
        var server = r.OptionalIPv4("Dhcp:ServerAddress");
        var port = r.Int("Dhcp:Port", 67, 1, 65535);
        var proxyPort = r.Int("Dhcp:ProxyPort", 4011, 1, 65535);
        var routerAdvertisementsSet = r.Raw("Dhcp:RouterAdvertisements") is not null;
        var routerAdvertisements = r.Enum("Dhcp:RouterAdvertisements", RouterAdvertisementMode.Auto);
        if (mode == DhcpMode.Off && routerAdvertisementsSet && routerAdvertisements == RouterAdvertisementMode.On)
        {
            r.AddError("Dhcp:RouterAdvertisements", "On", "allowed: On only with Dhcp:Mode Full or Proxy (router advertisements are answered on Dhcp:Interface)");
        }

        var subnets = new List<DhcpSubnetSettings>();
        var subnetKeys = r.Children("Dhcp:Subnets");
        foreach (var key in subnetKeys)
        {
            var subnet = ReadSubnet(r, key);
            if (subnet is not null)
            {
                subnets.Add(subnet);
            }
        }

        var reservations = new List<DhcpReservationSettings>();
        foreach (var key in r.Children("Dhcp:Reservations"))
        {
            if (ReadReservation(r, key, mode, subnets) is { } reservation)
            {
                if (reservations.FirstOrDefault(x => x.Address.Equals(reservation.Address)) is not null)
                {
                    r.AddError($"{key}:Address", reservation.Address.ToString(), "allowed: an address no other reservation holds");
                }
                else
                {
                    reservations.Add(reservation);
                }
            }
        }

        var declineHold = r.Duration("Dhcp:DeclineHoldTime", TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(1), TimeSpan.FromDays(7));
        var loadBalancing = r.Enum("Dhcp:LoadBalancing", DhcpLoadBalancingRole.None);
        // At least two beats (DhcpPeerLink.BeatInterval): one late beat must not look like a dead peer.
        var peerTimeout = r.Duration("Dhcp:PeerTimeout", DefaultPeerTimeout, 2 * DhcpPeerLink.BeatInterval, TimeSpan.FromHours(1));
        if (loadBalancing != DhcpLoadBalancingRole.None && mode != DhcpMode.Full)
        {
            r.AddError("Dhcp:LoadBalancing", loadBalancing.ToString(), $"allowed: None when Dhcp:Mode is {mode} (load balancing splits the pools of Full mode)");
        }

        if (mode != DhcpMode.Off)
        {
            if (iface is null)
            {
                r.AddError("Dhcp:Interface", null, $"required when Dhcp:Mode is {mode}: the interface of the boot network, for example eth1");
            }
            else if (!NetworkInterface.GetAllNetworkInterfaces().Any(n => n.Name == iface))
            {
                var names = string.Join(", ", NetworkInterface.GetAllNetworkInterfaces().Select(n => n.Name));
                r.AddError("Dhcp:Interface", iface, $"allowed: an interface of this host ({names})");
            }
        }

        if (mode == DhcpMode.Full && subnetKeys.Count == 0)
        {
            r.AddError("Dhcp:Subnets", null, "required when Dhcp:Mode is Full: at least one subnet with Network, PoolStart and PoolEnd");
        }

        return new DhcpSettings
        {
            Mode = mode,
            Interface = iface,
            ServerAddress = server,
            Port = port,
            ProxyPort = proxyPort,
            Subnets = subnets,
            Reservations = reservations,
            DeclineHoldTime = declineHold,
            RouterAdvertisements = routerAdvertisements,
            LoadBalancing = loadBalancing,
            PeerTimeout = peerTimeout,
        };
    }

    /// <summary>
    /// One reservation: its address and exactly one kind of key. Precedence when several would match one
    /// request is the engine's (MAC, then client id, then option 82; see <see cref="ReservationBook"/>).
    /// </summary>
    private static DhcpReservationSettings? ReadReservation(SettingsReader r, string key, DhcpMode mode, List<DhcpSubnetSettings> subnets)
    {
        var macText = r.Raw($"{key}:Mac");
        var clientIdText = r.Raw($"{key}:ClientId");
        var address = r.OptionalIPv4($"{key}:Address");
        var hostname = r.OptionalString($"{key}:Hostname");
        var circuit = ReadRelayId(r, key, "CircuitId");
        var remote = ReadRelayId(r, key, "RemoteId");
        var relaySet = circuit.Set || remote.Set;
        var kinds = (macText is null ? 0 : 1) + (clientIdText is null ? 0 : 1) + (relaySet ? 1 : 0);
        var ok = circuit.Ok && remote.Ok;
        if (kinds != 1)
        {
            r.AddError(key, null, kinds == 0
                ? "required: one of Mac, ClientId, or option 82 (CircuitId, CircuitIdPattern, RemoteId, RemoteIdPattern)"
                : "allowed: only one of Mac, ClientId, or option 82 keys (a reservation matches on one kind of key)");
            ok = false;
        }

        PhysicalAddress? mac = null;
        if (macText is not null && (mac = ParseMac(macText)) is null)
        {
            r.AddError($"{key}:Mac", macText, "allowed: a MAC address such as 52:54:00:12:34:56");
            ok = false;
        }

        byte[]? clientId = null;
        if (clientIdText is not null && (clientId = ParseHex(clientIdText)) is not { Length: >= 2 })
        {
            r.AddError($"{key}:ClientId", clientIdText, "allowed: option 61 in hex, type byte first, such as 01:52:54:00:12:34:56 (2 to 255 bytes)");
            ok = false;
        }

        if (address is null)
        {
            r.AddError($"{key}:Address", null, "required: the IPv4 address reserved");
            ok = false;
        }
        else if (mode == DhcpMode.Full && subnets.Count > 0 && !subnets.Any(s => s.Network.Contains(address)))
        {
            r.AddError($"{key}:Address", address.ToString(), "allowed: an address inside one of Dhcp:Subnets");
            ok = false;
        }

        return ok ? new DhcpReservationSettings
        {
            Address = address!,
            Hostname = hostname,
            Mac = mac,
            ClientId = clientId,
            CircuitId = circuit.Match,
            RemoteId = remote.Match,
        } : null;
    }

    /// <summary>
    /// <c>{name}</c> (exact: text, or <c>hex:</c> and the bytes) or <c>{name}Pattern</c> (glob over the
    /// text: <c>*</c>, <c>?</c>), not both.
    /// </summary>
    private static (bool Set, bool Ok, RelayIdMatch? Match) ReadRelayId(SettingsReader r, string key, string name)
    {
        var exact = r.Raw($"{key}:{name}");
        var pattern = r.Raw($"{key}:{name}Pattern");
        if (exact is null && pattern is null)
        {
            return (false, true, null);
        }

        if (exact is not null && pattern is not null)
        {
            r.AddError($"{key}:{name}Pattern", pattern, $"allowed: {name} or {name}Pattern, not both");
            return (true, false, null);
        }

        if (pattern is not null)
        {
            if (pattern.Length is 0 or > 255 || pattern.Any(c => c > 0xff))
            {
                r.AddError($"{key}:{name}Pattern", pattern, "allowed: a glob of 1 to 255 Latin-1 characters ('*' any run, '?' one character)");
                return (true, false, null);
            }

            return (true, true, RelayIdMatch.Glob(pattern));
        }

        var bytes = exact!.StartsWith("hex:", StringComparison.Ordinal) ? ParseHex(exact[4..]) : exact.Any(c => c > 0x7e || c < 0x20) ? null : System.Text.Encoding.ASCII.GetBytes(exact);
        if (bytes is not { Length: > 0 and <= 255 })
        {
            r.AddError($"{key}:{name}", exact, "allowed: 1 to 255 printable ASCII characters, or hex: and the bytes (hex:0004000a0001)");
            return (true, false, null);
        }

        return (true, true, RelayIdMatch.ExactValue(bytes));
    }

    /// <summary>Hex bytes, with or without ':' or '-' between them; null when not hex.</summary>
    internal static byte[]? ParseHex(string text)
    {
        var hex = text.Replace(":", string.Empty, StringComparison.Ordinal).Replace("-", string.Empty, StringComparison.Ordinal);
        if (hex.Length == 0 || hex.Length % 2 != 0 || hex.Length > 510 || !hex.All(char.IsAsciiHexDigit))
        {
            return null;
        }

        return Convert.FromHexString(hex);
    }

    private static DhcpSubnetSettings? ReadSubnet(SettingsReader r, string key)
    {
        var network = r.OptionalNetwork($"{key}:Network", AddressFamily.InterNetwork);
        var start = r.OptionalIPv4($"{key}:PoolStart");
        var end = r.OptionalIPv4($"{key}:PoolEnd");
        var router = r.OptionalIPv4($"{key}:Router");
        var dns = new List<IPAddress>();
        foreach (var text in r.StringList($"{key}:DnsServers"))
        {
            if (IPAddress.TryParse(text, out var a) && a.AddressFamily == AddressFamily.InterNetwork)
            {
                dns.Add(a);
            }
            else
            {
                r.AddError($"{key}:DnsServers", text, "allowed: IPv4 addresses");
            }
        }

        var domain = r.OptionalString($"{key}:DomainName");
        var lease = r.Duration($"{key}:LeaseTime", TimeSpan.FromHours(1), TimeSpan.FromMinutes(1), TimeSpan.FromDays(365));

        if (network is null)
        {
            r.AddError($"{key}:Network", null, "required: the subnet in CIDR notation, for example 10.0.0.0/24");
            return null;
        }

        if (start is null || end is null)
        {
            r.AddError($"{key}:PoolStart", null, "required: PoolStart and PoolEnd, the first and last address handed out");
            return null;
        }

        var ok = true;
        foreach (var (name, address) in new[] { ("PoolStart", start), ("PoolEnd", end) })
        {
            if (!network.Value.Contains(address))
            {
                r.AddError($"{key}:{name}", address.ToString(), $"allowed: an address inside {network}");
                ok = false;
            }
        }

        if (ok && ToUInt32(start) > ToUInt32(end))
        {
            r.AddError($"{key}:PoolEnd", end.ToString(), $"allowed: an address not below PoolStart ({start})");
            ok = false;
        }

        if (router is not null && !network.Value.Contains(router))
        {
            r.AddError($"{key}:Router", router.ToString(), $"allowed: an address inside {network}");
        }

        return ok ? new DhcpSubnetSettings
        {
            Network = network.Value,
            PoolStart = start,
            PoolEnd = end,
            Router = router,
            DnsServers = dns,
            DomainName = domain,
            LeaseTime = lease,
        } : null;
    }

    internal static PhysicalAddress? ParseMac(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var hex = text.Replace(":", string.Empty, StringComparison.Ordinal).Replace("-", string.Empty, StringComparison.Ordinal);
        if (hex.Length != 12 || !hex.All(char.IsAsciiHexDigit))
        {
            return null;
        }

        return PhysicalAddress.Parse(hex.ToUpperInvariant());
    }

    private static uint ToUInt32(IPAddress a)
    {
        var b = a.GetAddressBytes();
        return (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
    }
}
