using System.Net;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Dhcp6.Server;

/// <summary>
/// One IPv6 address and the identity association holding it (RFC 8415 section 12: a binding is
/// keyed by DUID, IA type and IAID). The store keeps one record per address.
/// </summary>
public sealed record Dhcp6Lease
{
    public required IPAddress Address { get; init; }

    /// <summary>The client's DUID as <c>aa:bb:..</c> hex (<see cref="Protocol.Duid.ToString"/>).</summary>
    public required string ClientDuid { get; init; }

    /// <summary>The IAID of the IA_NA the address belongs to.</summary>
    public required uint Iaid { get; init; }

    /// <summary>The client's MAC as <c>aa:bb:..</c> when the DUID (LL, LLT) or a relay (RFC 6939) names it; empty otherwise.</summary>
    public string HardwareAddress { get; init; } = string.Empty;

    /// <summary>Same states as DHCPv4 leases: Active, Released, Declined.</summary>
    public required DhcpLeaseState State { get; init; }

    public required DateTimeOffset Expires { get; init; }

    /// <summary>The first-hop relay's link-address when relayed (null when the client was on our link).</summary>
    public IPAddress? RelayLinkAddress { get; init; }

    /// <summary>The first-hop relay's Interface-Id (RFC 8415 section 21.18), when it sent one.</summary>
    public byte[]? InterfaceId { get; init; }

    /// <summary>The first-hop relay's Remote-Id (RFC 4649), enterprise number first, when it sent one.</summary>
    public byte[]? RemoteId { get; init; }

    /// <summary>True when the address is held (for its client, or out of use) at <paramref name="now"/>.</summary>
    public bool IsHeldAt(DateTimeOffset now) => State != DhcpLeaseState.Released && Expires > now;
}
