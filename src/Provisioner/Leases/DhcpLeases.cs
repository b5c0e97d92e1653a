using Kldload.Dhcp.Server;

namespace Kldload.Provisioner.Leases;

/// <summary>
/// The seam the DHCP listener publishes for the rest of the host (admin API, metrics, inventory): the
/// running engine's <see cref="IDhcpLeaseQuery"/>, and a consistent copy of its lease store for backups
/// (<see cref="Snapshot"/>). Registered whatever <c>Dhcp:Mode</c> is, so a caller
/// never reaches into the listener; <see cref="Query"/> is null while DHCP is off or not started, and
/// in proxy mode (kldload owns no addresses there).
/// </summary>
public sealed class DhcpLeases
{
    private volatile IDhcpLeaseQuery? _query;
    private volatile Func<IReadOnlyList<DhcpLease>>? _snapshot;

    /// <summary>The leases of the running full-mode engine; null when there are none to ask about.</summary>
    public IDhcpLeaseQuery? Query => _query;

    /// <summary>
    /// Every lease record of the running full-mode store, as the store holds it (the backup writes them
    /// in the store's own format); null while DHCP is off, not started or in proxy mode.
    /// </summary>
    public IReadOnlyList<DhcpLease>? Snapshot() => _snapshot?.Invoke();

    internal void Publish(IDhcpLeaseQuery? query, Func<IReadOnlyList<DhcpLease>>? snapshot)
    {
        _query = query;
        _snapshot = snapshot;
    }
}
