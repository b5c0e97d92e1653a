using System.Net;

namespace Kldload.Dhcp.Dhcp6.Server;

/// <summary>
/// Where DHCPv6 leases live between restarts, with the DHCPv4 store's contract
/// (<see cref="Kldload.Dhcp.Server.ILeaseStore"/>): the engine saves as leases change, the server loop
/// flushes before any reply that grants a lease leaves.
/// </summary>
public interface IDhcp6LeaseStore : IDisposable
{
    /// <summary>Every stored lease (one per address), read once at start.</summary>
    IReadOnlyList<Dhcp6Lease> LoadAll();

    /// <summary>Records a lease (insert or replace by address). Durable after the next <see cref="Flush"/>.</summary>
    void Save(Dhcp6Lease lease);

    /// <summary>Makes every saved lease durable.</summary>
    void Flush();
}

/// <summary>Leases in memory only: for unit tests, benchmarks and proxy mode.</summary>
public sealed class InMemoryDhcp6LeaseStore : IDhcp6LeaseStore
{
    private readonly Dictionary<IPAddress, Dhcp6Lease> _leases = [];

    public int FlushCount { get; private set; }

    public IReadOnlyList<Dhcp6Lease> LoadAll() => _leases.Values.ToList();

    public void Save(Dhcp6Lease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        _leases[lease.Address] = lease;
    }

    public void Flush() => FlushCount++;

    public void Dispose()
    {
    }
}
