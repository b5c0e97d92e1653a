namespace Kldload.Dhcp.Server;

/// <summary>
/// Where leases live between restarts. The engine calls <see cref="Save"/> as leases change and the
/// server loop calls <see cref="Flush"/> before any reply leaves: an ACK is sent only once the lease
/// it grants is durable, so a crash can never let one address go to two clients.
/// </summary>
public interface ILeaseStore : IDisposable
{
    /// <summary>Every stored lease (one per address), read once at start.</summary>
    IReadOnlyList<DhcpLease> LoadAll();

    /// <summary>Records a lease (insert or replace by address). Durable after the next <see cref="Flush"/>.</summary>
    void Save(DhcpLease lease);

    /// <summary>Makes every saved lease durable (written and synced to disk).</summary>
    void Flush();

    /// <summary>
    /// A consistent copy of every lease for a backup: what is staged is made durable first, so the copy
    /// holds exactly what clients may have been told.
    /// </summary>
    IReadOnlyList<DhcpLease> Snapshot();

    /// <summary>
    /// As <see cref="Flush"/>, for a store that several servers write (PostgreSQL with load balancing):
    /// a lease is written only when the stored lease of its address belongs to the same client, is
    /// released or has expired (or the new lease is a decline). Every other lease is refused and
    /// returned with the stored lease that won, so its ACK is withheld. A store only one server writes
    /// refuses nothing.
    /// </summary>
    IReadOnlyList<DhcpLeaseConflict> FlushRefusingConflicts()
    {
        Flush();
        return [];
    }
}

/// <summary>A lease the store refused (<see cref="ILeaseStore.FlushRefusingConflicts"/>) and the stored lease of the same address that kept it.</summary>
public sealed record DhcpLeaseConflict(DhcpLease Refused, DhcpLease Holder);

/// <summary>A store that keeps leases in memory only: for unit tests and benchmarks of the engine.</summary>
public sealed class InMemoryLeaseStore : ILeaseStore
{
    private readonly Dictionary<uint, DhcpLease> _leases = [];

    public int FlushCount { get; private set; }

    public IReadOnlyList<DhcpLease> LoadAll() => _leases.Values.ToList();

    public void Save(DhcpLease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        _leases[lease.Address.Value] = lease;
    }

    public void Flush() => FlushCount++;

    public IReadOnlyList<DhcpLease> Snapshot()
    {
        Flush();
        return LoadAll();
    }

    public void Dispose()
    {
    }
}
