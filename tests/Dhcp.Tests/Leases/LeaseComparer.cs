using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Leases;

/// <summary>Leases equal field by field (option 82 by content, absent and present-but-empty told apart).</summary>
internal sealed class LeaseComparer : IEqualityComparer<DhcpLease>
{
    public static readonly LeaseComparer Instance = new();

    public bool Equals(DhcpLease? x, DhcpLease? y) =>
        x is not null && y is not null && x.Address == y.Address && x.ClientId == y.ClientId && x.HardwareAddress == y.HardwareAddress
        && x.State == y.State && x.Expires == y.Expires && x.HostName == y.HostName && x.RelayAddress == y.RelayAddress
        && (x.RelayAgentInformation is null) == (y.RelayAgentInformation is null)
        && (x.RelayAgentInformation ?? []).SequenceEqual(y.RelayAgentInformation ?? []);

    public int GetHashCode(DhcpLease obj) => obj.Address.GetHashCode();
}
