using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>One address pool and the options handed out with it (<c>Dhcp:Subnets:N</c>).</summary>
public sealed record DhcpSubnet
{
    public required Ipv4Address Network { get; init; }

    public required int PrefixLength { get; init; }

    public required Ipv4Address PoolStart { get; init; }

    public required Ipv4Address PoolEnd { get; init; }

    public Ipv4Address? Router { get; init; }

    public IReadOnlyList<Ipv4Address> DnsServers { get; init; } = [];

    public string? DomainName { get; init; }

    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromHours(1);

    public Ipv4Address Mask => Ipv4Address.MaskFromPrefix(PrefixLength);

    public bool Contains(Ipv4Address address) => (address.Value & Mask.Value) == (Network.Value & Mask.Value);

    public bool InPool(Ipv4Address address) => address.Value >= PoolStart.Value && address.Value <= PoolEnd.Value;

    public int PoolSize => (int)Math.Min(int.MaxValue, (long)PoolEnd.Value - PoolStart.Value + 1);
}
