using System.Net;
using Kldload.Dhcp.Dhcp6.Protocol;

namespace Kldload.Dhcp.Dhcp6.Server;

/// <summary>How the DHCPv6 engine takes part on the link.</summary>
public enum Dhcp6ServerMode : byte
{
    /// <summary>kldload owns the pools: addresses (IA_NA) and boot options.</summary>
    Full = 1,

    /// <summary>
    /// Another server owns addresses: kldload answers boot clients only, with an ADVERTISE that holds
    /// no IA (UEFI takes it as a proxy offer) and a REPLY with the boot options to the REQUEST the
    /// firmware then sends to kldload's server id.
    /// </summary>
    Proxy = 2,
}

/// <summary>One IPv6 pool on one link (<c>Dhcp6:Subnets:N</c>).</summary>
public sealed record Dhcp6Subnet
{
    /// <summary>The link's prefix (RFC 8415 section 18.3.1: addresses must be appropriate for the client's link).</summary>
    public required IPNetwork Prefix { get; init; }

    public required IPAddress PoolStart { get; init; }

    public required IPAddress PoolEnd { get; init; }

    public TimeSpan PreferredLifetime { get; init; } = TimeSpan.FromMinutes(50);

    public TimeSpan ValidLifetime { get; init; } = TimeSpan.FromHours(1);

    public IReadOnlyList<IPAddress> DnsServers { get; init; } = [];

    /// <summary>Addresses from <see cref="PoolStart"/> to <see cref="PoolEnd"/> (at most <see cref="ulong.MaxValue"/> counted).</summary>
    public UInt128 PoolSize => Ipv6Arithmetic.ToUInt128(PoolEnd) - Ipv6Arithmetic.ToUInt128(PoolStart) + 1;
}

/// <summary>A fixed address for one DUID or one MAC (<c>Dhcp6:Reservations:N</c>); exactly one key is set.</summary>
public sealed record Dhcp6Reservation
{
    public required IPAddress Address { get; init; }

    public Duid? Duid { get; init; }

    /// <summary>The MAC as <c>aa:bb:..</c>: matches a DUID-LL or DUID-LLT carrying it, or a relay's RFC 6939 option.</summary>
    public string? HardwareAddress { get; init; }

    public string? HostName { get; init; }
}

/// <summary>Everything the engine needs; the host builds it from <c>Dhcp6:*</c>.</summary>
public sealed record Dhcp6ServerOptions
{
    public Dhcp6ServerMode Mode { get; init; } = Dhcp6ServerMode.Full;

    /// <summary>The server's DUID (OPTION_SERVERID); the host derives a DUID-LL from the interface's MAC.</summary>
    public required Duid ServerDuid { get; init; }

    /// <summary>kldload's address on the boot link, used in <c>tftp://[address]/file</c> boot file URLs.</summary>
    public required IPAddress ServerAddress { get; init; }

    public IReadOnlyList<Dhcp6Subnet> Subnets { get; init; } = [];

    public IReadOnlyList<Dhcp6Reservation> Reservations { get; init; } = [];

    /// <summary>How long an address a client declined stays out of the pool.</summary>
    public TimeSpan DeclineHoldTime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long an address advertised (not yet requested) is kept for its client.</summary>
    public TimeSpan AdvertiseHoldTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Most advertised addresses held at once; beyond it the oldest hold is dropped (a SOLICIT flood cannot drain a pool).</summary>
    public int MaxPendingAdvertises { get; init; } = 65536;
}
