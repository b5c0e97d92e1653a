namespace Kldload.Dhcp.LoadBalancing;

/// <summary>
/// Who this server is to its load-balancing peer: the segment both serve (the key of their heartbeat
/// rows), its role there, a name for this process (for operators reading the heartbeat table), and how
/// old the peer's last beat may be before this server answers the peer's clients too.
/// </summary>
public sealed record DhcpPeerLink(string Segment, DhcpLoadBalancingRole Role, string Instance, TimeSpan PeerTimeout)
{
    /// <summary>How often each server beats (the spec's "a row it updates every second").</summary>
    public static readonly TimeSpan BeatInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The segment key of a set of subnets: their networks in CIDR form, sorted and joined by commas.
    /// Two servers form a pair when they serve the same subnets.
    /// </summary>
    public static string SegmentOf(IEnumerable<Server.DhcpSubnet> subnets) =>
        string.Join(',', subnets.Select(s => $"{new Protocol.Ipv4Address(s.Network.Value & s.Mask.Value)}/{s.PrefixLength}").Order(StringComparer.Ordinal));
}
