using System.Diagnostics;
using System.Globalization;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;
using Npgsql;
using Xunit.Abstractions;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// What every <see cref="ILeaseStore"/> promises: one lease per address, the last save wins, a flushed
/// lease survives reopening with every field, a snapshot holds what was staged.
/// </summary>
public abstract class LeaseStoreContract(ITestOutputHelper output)
{
    /// <summary>A store over the test's storage; opened again after the previous one is disposed, it sees the same leases.</summary>
    protected abstract ILeaseStore Open();

    protected static DhcpLease Lease(int host, DhcpLeaseState state = DhcpLeaseState.Active) => new()
    {
        Address = new Ipv4Address(0x0A000000u + (uint)host),
        ClientId = "hw:525400" + host.ToString("x6", CultureInfo.InvariantCulture),
        HardwareAddress = $"52:54:00:{(host >> 16) & 0xFF:x2}:{(host >> 8) & 0xFF:x2}:{host & 0xFF:x2}",
        State = state,
        // Millisecond precision, as every store keeps at least; a non-UTC offset is read back as UTC.
        Expires = new DateTimeOffset(2026, 12, 7, 18, 0, 0, 123, TimeSpan.FromHours(2)).AddSeconds(host),
        HostName = host % 2 == 0 ? "node" + host : null,
        RelayAgentInformation = (host % 4) switch { 0 => [1, 2, 0, 7], 1 => [], _ => null },
        RelayAddress = host % 4 == 0 ? Ipv4Address.Parse("10.1.0.1") : Ipv4Address.Any,
    };

    private static void AssertSameLease(DhcpLease expected, DhcpLease actual)
    {
        Assert.Equal(expected with { RelayAgentInformation = null }, actual with { RelayAgentInformation = null });
        Assert.Equal(expected.RelayAgentInformation is null, actual.RelayAgentInformation is null);
        Assert.Equal(expected.RelayAgentInformation ?? [], actual.RelayAgentInformation ?? []);
    }

    /// <summary>As <see cref="AssertSameLease"/>, for a lease read back from storage: its expiry is in UTC.</summary>
    private static void AssertStoredLease(DhcpLease expected, DhcpLease actual)
    {
        AssertSameLease(expected, actual);
        Assert.Equal(TimeSpan.Zero, actual.Expires.Offset);
    }

    private List<DhcpLease> Reopened()
    {
        using var store = Open();
        return [.. store.LoadAll().OrderBy(l => l.Address)];
    }

    [Fact]
    public void LoadAll_EmptyStore_ReturnsNothing()
    {
        using var store = Open();

        Assert.Empty(store.LoadAll());
        Assert.Empty(store.Snapshot());
    }

    [Fact]
    public void Flush_ThenReopen_RoundTripsEveryField()
    {
        var leases = Enumerable.Range(1, 8).Select(h => Lease(h, (DhcpLeaseState)(1 + (h % 3)))).ToList();
        using (var store = Open())
        {
            leases.ForEach(store.Save);
            store.Flush();
        }

        var read = Reopened();

        Assert.Equal(leases.Count, read.Count);
        foreach (var (expected, actual) in leases.Zip(read))
        {
            AssertStoredLease(expected, actual);
        }
    }

    [Fact]
    public void Save_SameAddressInOneBatchAndAcrossBatches_KeepsOneLeaseLastWins()
    {
        using (var store = Open())
        {
            store.Save(Lease(1));
            store.Save(Lease(1, DhcpLeaseState.Declined) with { HostName = "first" });
            store.Save(Lease(2));
            store.Flush();
            store.Save(Lease(1, DhcpLeaseState.Released) with { HostName = "second", ClientId = "hw:other" });
            store.Flush();
        }

        var read = Reopened();

        Assert.Equal(2, read.Count);
        AssertStoredLease(Lease(1, DhcpLeaseState.Released) with { HostName = "second", ClientId = "hw:other" }, read[0]);
        AssertStoredLease(Lease(2), read[1]);
    }

    [Fact]
    public void LoadAll_StagedLease_IsSeenBeforeFlush()
    {
        using var store = Open();
        store.Save(Lease(1));
        store.Flush();
        store.Save(Lease(1, DhcpLeaseState.Released));

        var lease = Assert.Single(store.LoadAll());

        Assert.Equal(DhcpLeaseState.Released, lease.State);
    }

    [Fact]
    public void Snapshot_StagedLeases_AreFlushedAndIncluded()
    {
        using (var store = Open())
        {
            store.Save(Lease(1));
            store.Flush();
            store.Save(Lease(2));
            store.Save(Lease(1, DhcpLeaseState.Released));

            var snapshot = store.Snapshot().OrderBy(l => l.Address).ToList();

            Assert.Equal(2, snapshot.Count);
            AssertSameLease(Lease(1, DhcpLeaseState.Released), snapshot[0]);
            AssertSameLease(Lease(2), snapshot[1]);
        }

        // Durable: the snapshot flushed them.
        Assert.Equal([DhcpLeaseState.Released, DhcpLeaseState.Active], Reopened().Select(l => l.State));
    }

    [Fact]
    public void Flush_NothingStaged_ChangesNothing()
    {
        using (var store = Open())
        {
            store.Flush();
            store.Save(Lease(3));
            store.Flush();
            store.Flush();
        }

        AssertStoredLease(Lease(3), Assert.Single(Reopened()));
    }

    [Fact]
    public void Flush_ThousandStagedLeases_AreAllDurable()
    {
        // The server's group commit under load: one flush carries a whole batch of grants.
        using (var store = Open())
        {
            store.Save(Lease(0));
            store.Flush(); // the first flush pays for connecting; the measured one does not
            for (var h = 1; h <= 1000; h++)
            {
                store.Save(Lease(h));
            }

            var clock = Stopwatch.StartNew();
            store.Flush();
            clock.Stop();
            output.WriteLine($"{GetType().Name}: Flush of 1,000 staged leases took {clock.Elapsed.TotalMilliseconds:F1} ms ({1000 / clock.Elapsed.TotalSeconds:F0} leases/s)");
        }

        var read = Reopened();

        Assert.Equal(1001, read.Count);
        AssertStoredLease(Lease(777), read[777]);
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

        var read = Reopened();

        Assert.Equal(400, read.Count);
        Assert.Equal(Enumerable.Range(1, 400).Select(h => new Ipv4Address(0x0A000000u + (uint)h)), read.Select(l => l.Address));
    }
}

/// <summary>The contract against <see cref="LiteDbLeaseStore"/> (its own file and journal in a temp dir).</summary>
[Trait("Tier", "Integration")]
public sealed class LiteDbLeaseStoreTests(ITestOutputHelper output) : LeaseStoreContract(output), IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kld-leasecontract-").FullName;

    protected override ILeaseStore Open() => LiteDbLeaseStore.Open(Path.Combine(_dir, "leases.db"));

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

/// <summary>The contract against <see cref="PostgresLeaseStore"/> (a fresh database per test).</summary>
[Trait("Tier", "Integration")]
public sealed class PostgresLeaseStoreTests : LeaseStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresKldloadDatabase _database;

    public PostgresLeaseStoreTests(PostgresFixture postgres, ITestOutputHelper output)
        : base(output)
    {
        _database = PostgresKldloadDatabase.Open(postgres.CreateDatabase());
    }

    protected override ILeaseStore Open() => new PostgresLeaseStore(_database);

    public void Dispose() => _database.Dispose();

    [Fact]
    public void Flush_TwoStoresOnOneDatabase_SeeEachOthersLeasesOnePerAddress()
    {
        // Two provisioners on one database: the address is the key, whichever of them wrote last.
        using var a = new PostgresLeaseStore(_database);
        using var b = new PostgresLeaseStore(_database);
        a.Save(Lease(1));
        a.Flush();
        b.Save(Lease(1, DhcpLeaseState.Released));
        b.Save(Lease(2));
        b.Flush();

        var seenByA = a.LoadAll().OrderBy(l => l.Address).ToList();

        Assert.Equal(2, seenByA.Count);
        Assert.Equal(DhcpLeaseState.Released, seenByA[0].State);
    }

    [Fact]
    public void Flush_DatabaseRefusesTheBatch_ThrowsAndKeepsItStagedForTheNextFlush()
    {
        using var store = new PostgresLeaseStore(_database);
        store.Save(Lease(1));
        Execute("ALTER TABLE dhcp_leases RENAME TO dhcp_leases_away");

        Assert.Throws<PostgresException>(store.Flush);

        store.Save(Lease(2));
        Execute("ALTER TABLE dhcp_leases_away RENAME TO dhcp_leases");
        store.Flush();
        using var other = new PostgresLeaseStore(_database);
        Assert.Equal([1u, 2u], other.Snapshot().Select(l => l.Address.Value - 0x0A000000u).Order());
    }

    private void Execute(string sql)
    {
        using var command = _database.DataSource.CreateCommand(sql);
        command.ExecuteNonQuery();
    }
}
