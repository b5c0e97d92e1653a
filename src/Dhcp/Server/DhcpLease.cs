using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>What an address is currently used for.</summary>
public enum DhcpLeaseState : byte
{
    /// <summary>Bound to the client until <see cref="DhcpLease.Expires"/>.</summary>
    Active = 1,

    /// <summary>The client released it; kept so the same client gets it back first.</summary>
    Released = 2,

    /// <summary>A client reported it in use by someone else (DHCPDECLINE); kept out of the pool until it expires.</summary>
    Declined = 3,
}

/// <summary>
/// One address and who holds it. The store keeps one record per address, so a record can never
/// name two clients for one address.
/// </summary>
public sealed record DhcpLease
{
    public required Ipv4Address Address { get; init; }

    /// <summary>The client identity (RFC 2131 section 4.2): option 61 as hex, or <c>hw:</c> + chaddr.</summary>
    public required string ClientId { get; init; }

    /// <summary>chaddr as <c>aa:bb:cc:dd:ee:ff</c>.</summary>
    public required string HardwareAddress { get; init; }

    public required DhcpLeaseState State { get; init; }

    public required DateTimeOffset Expires { get; init; }

    public string? HostName { get; init; }

    /// <summary>Option 82 as the relay sent it (RFC 3046), for matching a node to its switch port.</summary>
    public byte[]? RelayAgentInformation { get; init; }

    /// <summary>giaddr of the relay that forwarded the last request; 0.0.0.0 when not relayed.</summary>
    public Ipv4Address RelayAddress { get; init; }

    /// <summary>
    /// The active lease a REQUEST is granted: its client, chaddr and host name (the reservation's when it
    /// names one), and option 82 and giaddr when a relay forwarded it.
    /// </summary>
    internal static DhcpLease Bound(DhcpMessage request, string clientId, Ipv4Address address, DateTimeOffset expires, string? reservedHostName) => new()
    {
        Address = address,
        ClientId = clientId,
        HardwareAddress = request.HardwareAddressText,
        State = DhcpLeaseState.Active,
        Expires = expires,
        HostName = reservedHostName ?? request.Options.GetString(DhcpOptionCode.HostName),
        // Only a relay's option 82 says where the client is (see ReservationBook.TrustedRelayInformation).
        RelayAgentInformation = request.RelayAddress.IsAny ? null : request.Options.Get(DhcpOptionCode.RelayAgentInformation),
        RelayAddress = request.RelayAddress,
    };

    /// <summary>True when the address is held for its client (or out of use) at <paramref name="now"/>.</summary>
    public bool IsHeldAt(DateTimeOffset now) => State != DhcpLeaseState.Released && Expires > now;
}
