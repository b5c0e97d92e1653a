using Kldload.Dhcp.Server;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// The seam the DHCP listener publishes for the rest of the host (admin API, metrics, inventory): the
/// running engine's <see cref="IDhcpLeaseQuery"/>. Registered whatever <c>Dhcp:Mode</c> is, so a caller
/// never reaches into the listener; <see cref="Query"/> is null while DHCP is off or not started, and
/// in proxy mode (kldload owns no addresses there).
/// </summary>
public sealed class DhcpLeases
{
    private volatile IDhcpLeaseQuery? _query;

    /// <summary>The leases of the running full-mode engine; null when there are none to ask about.</summary>
    public IDhcpLeaseQuery? Query => _query;

    internal void Publish(IDhcpLeaseQuery? query) => _query = query;
}
