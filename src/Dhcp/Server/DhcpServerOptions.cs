using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>Everything the engine needs to know, built by the host from its settings.</summary>
public sealed record DhcpServerOptions
{
    public required DhcpServerMode Mode { get; init; }

    /// <summary>Server identifier (option 54) and <c>siaddr</c>: this host's address on the boot network.</summary>
    public required Ipv4Address ServerAddress { get; init; }

    public IReadOnlyList<DhcpSubnet> Subnets { get; init; } = [];

    public IReadOnlyList<DhcpReservation> Reservations { get; init; } = [];

    /// <summary>How long an offered address stays set aside for the client that was offered it.</summary>
    public TimeSpan OfferLifetime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>At most this many offers are pending at once (a DISCOVER flood cannot exhaust memory).</summary>
    public int MaxPendingOffers { get; init; } = 16384;

    /// <summary>How long a declined address (RFC 2131 section 3.1 step 5) is kept out of the pool.</summary>
    public TimeSpan DeclineHoldTime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Port the proxyDHCP boot service listens on (PXE 2.1: 4011).</summary>
    public int ProxyPort { get; init; } = 4011;

    /// <summary>
    /// RFC 3074 load balancing with one peer on the same segment (full mode): which half of the clients
    /// and of the free addresses this server takes while the peer is alive. None: every client.
    /// </summary>
    public DhcpLoadBalancingRole LoadBalancing { get; init; } = DhcpLoadBalancingRole.None;
}
