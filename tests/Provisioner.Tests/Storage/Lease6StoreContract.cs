using System.Net;
using Kldload.Dhcp.Dhcp6.Leases;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// What every <see cref="IDhcp6LeaseStore"/> promises: one lease per address, the last save wins, a
/// flushed lease survives reopening with every field.
/// </summary>
public abstract class Lease6StoreContract
{
    /// <summary>A store over the test's storage; opened again after the previous one is disposed, it sees the same leases.</summary>
    protected abstract IDhcp6LeaseStore Open();

    protected static Dhcp6Lease Lease(int n, DhcpLeaseState state = DhcpLeaseState.Active, bool relayed = false) => new()
    {
        Address = IPAddress.Parse($"fd00:10::{0x100 + n:x}"),
        ClientDuid = $"00:03:00:01:52:54:00:00:{n >> 8:x2}:{n & 0xFF:x2}",
        // IAIDs above int.MaxValue must survive too.
        Iaid = n % 2 == 0 ? (uint)n : 0x8000_0000u + (uint)n,
        HardwareAddress = n % 3 == 0 ? string.Empty : $"52:54:00:00:{n >> 8:x2}:{n & 0xFF:x2}",
        State = state,
        Expires = new DateTimeOffset(2026, 12, 7, 18, 0, 0, 250, TimeSpan.FromHours(-5)).AddSeconds(n),
        RelayLinkAddress = relayed ? IPAddress.Parse("fd00:20::1") : null,
        InterfaceId = relayed ? "swp7"u8.ToArray() : null,
        RemoteId = relayed ? [0, 0, 0, 9, 1, 2] : null,
    };

    private static void AssertSameLease(Dhcp6Lease expected, Dhcp6Lease actual)
    {
        Assert.Equal(expected with { InterfaceId = null, RemoteId = null }, actual with { InterfaceId = null, RemoteId = null });
        Assert.Equal(expected.InterfaceId, actual.InterfaceId);
        Assert.Equal(expected.RemoteId, actual.RemoteId);
        Assert.Equal(TimeSpan.Zero, actual.Expires.Offset);
    }

    private List<Dhcp6Lease> Reopened()
    {
        using var store = Open();
        return [.. store.LoadAll().OrderBy(l => l.Address.ToString(), StringComparer.Ordinal)];
    }

    [Fact]
    public void LoadAll_EmptyStore_ReturnsNothing()
    {
        using var store = Open();

        Assert.Empty(store.LoadAll());
    }

    [Fact]
    public void Flush_ThenReopen_RoundTripsEveryField()
    {
        var leases = Enumerable.Range(1, 6).Select(n => Lease(n, (DhcpLeaseState)(1 + (n % 3)), relayed: n % 2 == 1)).ToList();
        using (var store = Open())
        {
            leases.ForEach(store.Save);
            store.Flush();
        }

        var read = Reopened();

        Assert.Equal(leases.Count, read.Count);
        foreach (var (expected, actual) in leases.Zip(read))
        {
            AssertSameLease(expected, actual);
        }
    }

    [Fact]
    public void Save_SameAddressInOneBatchAndAcrossBatches_KeepsOneLeaseLastWins()
    {
        using (var store = Open())
        {
            store.Save(Lease(1));
            store.Save(Lease(1, DhcpLeaseState.Declined, relayed: true));
            store.Save(Lease(2));
            store.Flush();
            store.Save(Lease(1, DhcpLeaseState.Released) with { ClientDuid = "00:03:00:01:aa:bb:cc:dd:ee:ff" });
            store.Flush();
        }

        var read = Reopened();

        Assert.Equal(2, read.Count);
        AssertSameLease(Lease(1, DhcpLeaseState.Released) with { ClientDuid = "00:03:00:01:aa:bb:cc:dd:ee:ff" }, read[0]);
        AssertSameLease(Lease(2), read[1]);
    }

    [Fact]
    public void LoadAll_StagedLease_IsSeenBeforeFlush()
    {
        using var store = Open();
        store.Save(Lease(1));
        store.Flush();
        store.Save(Lease(1, DhcpLeaseState.Released));

        Assert.Equal(DhcpLeaseState.Released, Assert.Single(store.LoadAll()).State);
    }

    [Fact]
    public void SaveAndFlush_FromManyThreads_KeepsEveryLease()
    {
        using (var store = Open())
        {
            Parallel.For(0, 4, worker =>
            {
                for (var i = 0; i < 100; i++)
                {
                    store.Save(Lease(1 + (worker * 100) + i));
                    if (i % 10 == 9)
                    {
                        store.Flush();
                    }
                }
            });
            store.Flush();
        }

        Assert.Equal(400, Reopened().Select(l => l.Address).Distinct().Count());
    }
}

/// <summary>
/// The contract against the default DHCPv6 store, <see cref="Dhcp6LeaseJournalStore"/> (DHCPv6 leases
/// never lived in LiteDB: an fsynced journal in a temp dir).
/// </summary>
[Trait("Tier", "Integration")]
public sealed class JournalLease6StoreTests : Lease6StoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kld-lease6contract-").FullName;

    protected override IDhcp6LeaseStore Open() => Dhcp6LeaseJournalStore.Open(Path.Combine(_dir, "leases6.journal"));

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

/// <summary>The contract against <see cref="PostgresLease6Store"/> (a fresh database per test).</summary>
[Trait("Tier", "Integration")]
public sealed class PostgresLease6StoreTests(PostgresFixture postgres) : Lease6StoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresKldloadDatabase _database = PostgresKldloadDatabase.Open(postgres.CreateDatabase());

    protected override IDhcp6LeaseStore Open() => new PostgresLease6Store(_database);

    public void Dispose() => _database.Dispose();

    [Fact]
    public void Save_Ipv4Address_IsRefused()
    {
        using var store = Open();

        Assert.Throws<ArgumentException>(() => store.Save(Lease(1) with { Address = IPAddress.Parse("10.0.0.1") }));
    }
}
