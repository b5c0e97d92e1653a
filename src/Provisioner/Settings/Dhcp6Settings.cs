using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Kldload.Dhcp.Dhcp6.Protocol;
using Kldload.Dhcp.Dhcp6.Server;

namespace Kldload.Provisioner.Settings;

/// <summary>One IPv6 pool (<c>Dhcp6:Subnets:N</c>).</summary>
public sealed record Dhcp6SubnetSettings
{
    public required IPNetwork Prefix { get; init; }

    public required IPAddress PoolStart { get; init; }

    public required IPAddress PoolEnd { get; init; }

    public IReadOnlyList<IPAddress> DnsServers { get; init; } = [];

    public TimeSpan PreferredLifetime { get; init; } = TimeSpan.FromMinutes(50);

    public TimeSpan ValidLifetime { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>A fixed IPv6 address for one DUID or one MAC (<c>Dhcp6:Reservations:N</c>).</summary>
public sealed record Dhcp6ReservationSettings
{
    public required IPAddress Address { get; init; }

    public string? Hostname { get; init; }

    public Duid? Duid { get; init; }

    public PhysicalAddress? Mac { get; init; }
}

/// <summary>The <c>Dhcp6</c> section: DHCPv6 (RFC 8415) with RFC 5970 boot options.</summary>
public sealed record Dhcp6Settings
{
    public DhcpMode Mode { get; init; } = DhcpMode.Off;

    public string? Interface { get; init; }

    /// <summary>kldload's IPv6 address on the boot link (boot file URLs); empty = the interface's first global address.</summary>
    public IPAddress? ServerAddress { get; init; }

    public IReadOnlyList<Dhcp6SubnetSettings> Subnets { get; init; } = [];

    public IReadOnlyList<Dhcp6ReservationSettings> Reservations { get; init; } = [];

    public TimeSpan DeclineHoldTime { get; init; } = TimeSpan.FromMinutes(10);

    internal static Dhcp6Settings Read(SettingsReader r)
    {
        var mode = r.Enum("Dhcp6:Mode", DhcpMode.Off);
        var iface = r.OptionalString("Dhcp6:Interface");
        var server = r.OptionalIPv6("Dhcp6:ServerAddress");
        var subnetKeys = r.Children("Dhcp6:Subnets");
        var subnets = new List<Dhcp6SubnetSettings>();
        foreach (var key in subnetKeys)
        {
            if (ReadSubnet(r, key) is { } subnet)
            {
                if (subnets.FirstOrDefault(s => s.Prefix.Contains(subnet.Prefix.BaseAddress) || subnet.Prefix.Contains(s.Prefix.BaseAddress)) is { } overlap)
                {
                    r.AddError($"{key}:Prefix", subnet.Prefix.ToString(), $"allowed: a prefix that does not overlap another subnet ({overlap.Prefix})");
                }
                else
                {
                    subnets.Add(subnet);
                }
            }
        }

        var reservations = new List<Dhcp6ReservationSettings>();
        foreach (var key in r.Children("Dhcp6:Reservations"))
        {
            if (ReadReservation(r, key, mode, subnets) is { } reservation)
            {
                if (reservations.Any(x => x.Address.Equals(reservation.Address)))
                {
                    r.AddError($"{key}:Address", reservation.Address.ToString(), "allowed: an address no other reservation holds");
                }
                else
                {
                    reservations.Add(reservation);
                }
            }
        }

        var declineHold = r.Duration("Dhcp6:DeclineHoldTime", TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(1), TimeSpan.FromDays(7));
        if (mode != DhcpMode.Off)
        {
            if (iface is null)
            {
                r.AddError("Dhcp6:Interface", null, $"required when Dhcp6:Mode is {mode}: the interface of the boot network, for example eth1");
            }
            else if (!NetworkInterface.GetAllNetworkInterfaces().Any(n => n.Name == iface))
            {
                var names = string.Join(", ", NetworkInterface.GetAllNetworkInterfaces().Select(n => n.Name));
                r.AddError("Dhcp6:Interface", iface, $"allowed: an interface of this host ({names})");
            }
        }

        if (mode == DhcpMode.Full && subnetKeys.Count == 0)
        {
            r.AddError("Dhcp6:Subnets", null, "required when Dhcp6:Mode is Full: at least one subnet with Prefix, PoolStart and PoolEnd");
        }

        return new Dhcp6Settings
        {
            Mode = mode,
            Interface = iface,
            ServerAddress = server,
            Subnets = subnets,
            Reservations = reservations,
            DeclineHoldTime = declineHold,
        };
    }

    private static Dhcp6SubnetSettings? ReadSubnet(SettingsReader r, string key)
    {
        var prefix = r.OptionalNetwork($"{key}:Prefix", AddressFamily.InterNetworkV6);
        var start = r.OptionalIPv6($"{key}:PoolStart");
        var end = r.OptionalIPv6($"{key}:PoolEnd");
        var dns = new List<IPAddress>();
        foreach (var text in r.StringList($"{key}:DnsServers"))
        {
            if (IPAddress.TryParse(text, out var a) && a.AddressFamily == AddressFamily.InterNetworkV6)
            {
                dns.Add(a);
            }
            else
            {
                r.AddError($"{key}:DnsServers", text, "allowed: IPv6 addresses");
            }
        }

        var preferred = r.Duration($"{key}:PreferredLifetime", TimeSpan.FromMinutes(50), TimeSpan.FromMinutes(1), TimeSpan.FromDays(365));
        var valid = r.Duration($"{key}:ValidLifetime", TimeSpan.FromHours(1), TimeSpan.FromMinutes(1), TimeSpan.FromDays(365));
        if (preferred > valid)
        {
            r.AddError($"{key}:PreferredLifetime", preferred.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
                $"allowed: not longer than ValidLifetime ({valid:c}) (RFC 8415 section 21.6)");
        }

        if (prefix is null)
        {
            r.AddError($"{key}:Prefix", null, "required: the link's prefix, for example fd00:10::/64");
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
            if (!prefix.Value.Contains(address))
            {
                r.AddError($"{key}:{name}", address.ToString(), $"allowed: an address inside {prefix}");
                ok = false;
            }
        }

        if (ok && Ipv6Arithmetic.ToUInt128(start) > Ipv6Arithmetic.ToUInt128(end))
        {
            r.AddError($"{key}:PoolEnd", end.ToString(), $"allowed: an address not below PoolStart ({start})");
            ok = false;
        }

        return ok ? new Dhcp6SubnetSettings { Prefix = prefix.Value, PoolStart = start, PoolEnd = end, DnsServers = dns, PreferredLifetime = preferred, ValidLifetime = valid } : null;
    }

    private static Dhcp6ReservationSettings? ReadReservation(SettingsReader r, string key, DhcpMode mode, List<Dhcp6SubnetSettings> subnets)
    {
        var duidText = r.Raw($"{key}:Duid");
        var macText = r.Raw($"{key}:Mac");
        var address = r.OptionalIPv6($"{key}:Address");
        var hostname = r.OptionalString($"{key}:Hostname");
        var ok = true;
        if ((duidText is null) == (macText is null))
        {
            r.AddError(key, null, duidText is null ? "required: Duid or Mac" : "allowed: Duid or Mac, not both (a reservation matches on one kind of key)");
            ok = false;
        }

        Duid? duid = null;
        if (duidText is not null)
        {
            if (DhcpSettings.ParseHex(duidText) is { Length: >= 3 and <= Duid.MaxLength } bytes)
            {
                duid = new Duid(bytes);
            }
            else
            {
                r.AddError($"{key}:Duid", duidText, "allowed: a DUID in hex, type first, such as 00:03:00:01:52:54:00:12:34:56 (3 to 130 bytes)");
                ok = false;
            }
        }

        PhysicalAddress? mac = null;
        if (macText is not null && (mac = DhcpSettings.ParseMac(macText)) is null)
        {
            r.AddError($"{key}:Mac", macText, "allowed: a MAC address such as 52:54:00:12:34:56");
            ok = false;
        }

        if (address is null)
        {
            r.AddError($"{key}:Address", null, "required: the IPv6 address reserved");
            ok = false;
        }
        else if (mode == DhcpMode.Full && subnets.Count > 0 && !subnets.Any(s => s.Prefix.Contains(address)))
        {
            r.AddError($"{key}:Address", address.ToString(), "allowed: an address inside one of Dhcp6:Subnets");
            ok = false;
        }

        return ok ? new Dhcp6ReservationSettings { Address = address!, Hostname = hostname, Duid = duid, Mac = mac } : null;
    }
}
