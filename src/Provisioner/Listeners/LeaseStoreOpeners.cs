using Kldload.Dhcp.Dhcp6.Leases;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.Server;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// How the DHCP listeners open their lease stores in Full mode, given the path of the embedded store
/// in the data directory: the files there (the default), or the tables of the PostgreSQL database
/// (<c>Database:Provider=PostgreSql</c>, where the path is not used). <see cref="OpenHeartbeat"/> opens the
/// heartbeat of RFC 3074 load balancing (<c>Dhcp:LoadBalancing</c>), which needs a database both servers
/// reach: null for the embedded stores.
/// </summary>
public sealed record LeaseStoreOpeners(
    Func<string, ILeaseStore> OpenV4,
    Func<string, IDhcp6LeaseStore> OpenV6,
    Func<DhcpPeerLink, IDhcpPeerHeartbeat>? OpenHeartbeat = null)
{
    /// <summary>The embedded stores: <c>leases.db</c> with its journal, and <c>leases6.journal</c>.</summary>
    public static LeaseStoreOpeners Embedded { get; } = new(path => LiteDbLeaseStore.Open(path), path => Dhcp6LeaseJournalStore.Open(path));
}
