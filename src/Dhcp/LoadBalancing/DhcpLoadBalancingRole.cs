namespace Kldload.Dhcp.LoadBalancing;

/// <summary>This server's part in RFC 3074 load balancing with one peer on the same segment.</summary>
public enum DhcpLoadBalancingRole : byte
{
    /// <summary>No peer: answer every client and allocate from the whole pool.</summary>
    None = 0,

    /// <summary>Answers buckets 0-127 and allocates the even free addresses while the peer is alive.</summary>
    Primary = 1,

    /// <summary>Answers buckets 128-255 and allocates the odd free addresses while the peer is alive.</summary>
    Secondary = 2,
}

/// <summary>What each role answers and allocates.</summary>
public static class DhcpLoadBalancingRoles
{
    /// <summary>The role of the other server of a pair.</summary>
    public static DhcpLoadBalancingRole Peer(this DhcpLoadBalancingRole role) => role switch
    {
        DhcpLoadBalancingRole.Primary => DhcpLoadBalancingRole.Secondary,
        DhcpLoadBalancingRole.Secondary => DhcpLoadBalancingRole.Primary,
        _ => DhcpLoadBalancingRole.None,
    };

    /// <summary>The buckets a role answers while its peer is alive.</summary>
    public static HashBuckets Buckets(this DhcpLoadBalancingRole role) => role switch
    {
        DhcpLoadBalancingRole.Primary => HashBuckets.LowerHalf,
        DhcpLoadBalancingRole.Secondary => HashBuckets.UpperHalf,
        _ => HashBuckets.All,
    };

    /// <summary>
    /// Whether a role may hand out <paramref name="address"/> as a new, free address while its peer is
    /// alive: the primary the even ones, the secondary the odd ones. Splitting the free addresses as well
    /// as the clients means the two servers never offer one free address at the same time.
    /// </summary>
    public static bool MayAllocate(this DhcpLoadBalancingRole role, Protocol.Ipv4Address address) => role switch
    {
        DhcpLoadBalancingRole.Primary => (address.Value & 1) == 0,
        DhcpLoadBalancingRole.Secondary => (address.Value & 1) == 1,
        _ => true,
    };
}
