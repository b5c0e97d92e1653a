using System.Net;
using Kldload.Dhcp.Dhcp6.Server;

namespace Kldload.Provisioner.Leases;

/// <summary>
/// The seam the DHCPv6 listener publishes for the rest of the host (admin API, boot steps, backups),
/// as <see cref="DhcpLeases"/> is for DHCPv4: a copy of the running engine's lease records, a lookup
/// by address and an operator's release. Registered whatever <c>Dhcp6:Mode</c> is; both answer null while DHCPv6 is off, not
/// started, or in proxy mode (kldload owns no IPv6 addresses there).
/// </summary>
public sealed class Dhcp6Leases
{
    private volatile Dhcp6Engine? _engine;

    /// <summary>True while a full-mode engine runs.</summary>
    public bool Owned => _engine is not null;

    /// <summary>Every lease record (one per address, any state), or null when kldload owns no IPv6 addresses.</summary>
    public IReadOnlyList<Dhcp6Lease>? Snapshot() => _engine?.Leases;

    /// <summary>The lease record of <paramref name="address"/>, or null.</summary>
    public Dhcp6Lease? Find(IPAddress address) => _engine?.Find(address);

    /// <summary>Releases <paramref name="address"/> for an operator (see <see cref="Dhcp6Engine.ReleaseByOperator"/>): the record before, or null.</summary>
    public Dhcp6Lease? Release(IPAddress address) => _engine?.ReleaseByOperator(address);

    internal void Publish(Dhcp6Engine? engine) => _engine = engine is { Mode: Dhcp6ServerMode.Full } ? engine : null;
}
