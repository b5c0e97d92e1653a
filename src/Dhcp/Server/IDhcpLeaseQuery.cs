using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>What a lease record means at the moment it is read.</summary>
public enum DhcpLeaseStatus : byte
{
    /// <summary>Bound to its client until it expires.</summary>
    Active = 1,

    /// <summary>Its time ran out (or a decline's hold time passed): the address is back in the pool.</summary>
    Expired = 2,

    /// <summary>The client (or an operator) released it: back in the pool; the same client gets it first.</summary>
    Released = 3,

    /// <summary>A client reported the address in use (DHCPDECLINE): out of the pool until the hold time passes.</summary>
    Declined = 4,
}

/// <summary>One lease record as an operator sees it.</summary>
/// <param name="Lease">The stored record.</param>
/// <param name="Status">What it means now.</param>
/// <param name="Subnet">The configured subnet the address is in; null when no subnet holds it any longer.</param>
/// <param name="Reservation">The reservation holding the address, if any.</param>
/// <param name="DeclinedAt">
/// For a declined record: when the decline came (its expiry less <c>DeclineHoldTime</c>); the decliner is
/// <see cref="DhcpLease.HardwareAddress"/>.
/// </param>
public sealed record DhcpLeaseEntry(DhcpLease Lease, DhcpLeaseStatus Status, DhcpSubnet? Subnet, DhcpReservation? Reservation, DateTimeOffset? DeclinedAt);

/// <summary>
/// How one subnet's pool (<see cref="DhcpSubnet.PoolStart"/> to <see cref="DhcpSubnet.PoolEnd"/>) is used
/// now. Every address counts once: reserved (a reservation, the server, the router, the network or
/// broadcast address), else active, declined, offered, or free.
/// </summary>
public sealed record DhcpPoolUsage(DhcpSubnet Subnet, int Size, int Active, int Offered, int Declined, int Reserved)
{
    public int Free => Size - Active - Offered - Declined - Reserved;

    /// <summary>The share of the pool a new client cannot get, 0 to 1.</summary>
    public double UsedFraction => Size == 0 ? 1 : (double)(Size - Free) / Size;

    /// <summary>The subnet in CIDR notation, the label of its metrics.</summary>
    public string Name => $"{Subnet.Network}/{Subnet.PrefixLength}";
}

/// <summary>
/// The leases of a running engine, for the host's admin API and metrics: read, and released by an
/// operator. <see cref="DhcpEngine"/> publishes it, so the host never reaches into the store.
/// </summary>
public interface IDhcpLeaseQuery
{
    /// <summary>Every lease record (one per address), in address order.</summary>
    IReadOnlyList<DhcpLeaseEntry> ListLeases();

    /// <summary>The record of one address; null when the address has none.</summary>
    DhcpLeaseEntry? FindLease(Ipv4Address address);

    /// <summary>
    /// Puts an active or declined address back in the pool now (made durable before this returns).
    /// Returns the record as it was; null when the address was not held (no record, released or expired).
    /// </summary>
    DhcpLeaseEntry? ReleaseLease(Ipv4Address address);

    /// <summary>Pool usage of every configured subnet, in configuration order.</summary>
    IReadOnlyList<DhcpPoolUsage> PoolUsage();
}
