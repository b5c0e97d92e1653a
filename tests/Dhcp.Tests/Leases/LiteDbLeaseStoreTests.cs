using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using Kldload.Dhcp.Tests.Server;

namespace Kldload.Dhcp.Tests.Leases;

[Trait("Tier", "Integration")]
public sealed class LiteDbLeaseStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldhcp-store-").FullName;

    private string DbPath => Path.Combine(_dir, "leases.db");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static DhcpLease Lease(int host, string mac, DhcpLeaseState state = DhcpLeaseState.Active) => new()
    {
        Address = new Ipv4Address(0x0A000000u + (uint)host),
        ClientId = "hw:" + mac.Replace(":", string.Empty, StringComparison.Ordinal),
        HardwareAddress = mac,
        State = state,
        Expires = new DateTimeOffset(2026, 1, 1, 1, 0, 0, TimeSpan.Zero),
        HostName = host % 2 == 0 ? "node" + host : null,
        RelayAgentInformation = host % 3 == 0 ? [1, 2, 0, 7] : null,
        RelayAddress = host % 3 == 0 ? Ipv4Address.Parse("10.1.0.1") : Ipv4Address.Any,
    };

    [Fact]
    public void Flush_ThenReopen_ReturnsEveryLease()
    {
        using (var store = LiteDbLeaseStore.Open(DbPath))
        {
            for (var i = 1; i <= 300; i++)
            {
                store.Save(Lease(i, $"52:54:00:00:{i >> 8:x2}:{i & 0xFF:x2}"));
            }

            store.Flush();
        }

        using var reopened = LiteDbLeaseStore.Open(DbPath);
        var all = reopened.LoadAll().OrderBy(l => l.Address).ToList();
        Assert.Equal(300, all.Count);
        Assert.Equal(Lease(3, "52:54:00:00:00:03") with { }, all[2], LeaseComparer.Instance);
        Assert.Equal(new byte[] { 1, 2, 0, 7 }, all[2].RelayAgentInformation);
    }

    [Fact]
    public void Reopen_WithoutDispose_RecoversFromJournal()
    {
        // Simulates a crash: the first store is never disposed, so LiteDB's own queue may not have run.
        var crashed = LiteDbLeaseStore.Open(DbPath);
        crashed.Save(Lease(1, "52:54:00:00:00:01"));
        crashed.Flush();
        crashed.Save(Lease(1, "52:54:00:00:00:01", DhcpLeaseState.Released));
        crashed.Flush();
        crashed.Save(Lease(2, "52:54:00:00:00:02"));

        // Not flushed: never acknowledged. Copy the files as a crash would leave them.
        var copy = Path.Combine(_dir, "copy");
        Directory.CreateDirectory(copy);
        File.Copy(Path.Combine(_dir, "leases.journal"), Path.Combine(copy, "leases.journal"));
        crashed.Dispose();

        using var reopened = LiteDbLeaseStore.Open(Path.Combine(copy, "leases.db"));
        var lease = Assert.Single(reopened.LoadAll());
        Assert.Equal(DhcpLeaseState.Released, lease.State);
    }

    [Fact]
    public void Reopen_TornJournalTail_KeepsCompleteRecordsAndTruncates()
    {
        using (var store = LiteDbLeaseStore.Open(DbPath))
        {
            store.Save(Lease(1, "52:54:00:00:00:01"));
            store.Save(Lease(2, "52:54:00:00:00:02"));
            store.Flush();
        }

        var journal = Path.Combine(_dir, "leases.journal");
        var bytes = File.ReadAllBytes(journal);
        File.Delete(DbPath);
        File.WriteAllBytes(journal, bytes[..^5]);
        using (var reopened = LiteDbLeaseStore.Open(DbPath))
        {
            Assert.Equal([new Ipv4Address(0x0A000001)], reopened.LoadAll().Select(l => l.Address));
            reopened.Save(Lease(3, "52:54:00:00:00:03"));
            reopened.Flush();
        }

        using var again = LiteDbLeaseStore.Open(DbPath);
        Assert.Equal(2, again.LoadAll().Count);
    }

    [Fact]
    public void Compact_KeepsOneRecordPerAddress()
    {
        using (var store = LiteDbLeaseStore.Open(DbPath))
        {
            for (var round = 0; round < 5; round++)
            {
                for (var i = 1; i <= 50; i++)
                {
                    store.Save(Lease(i, $"52:54:00:00:00:{i:x2}") with { Expires = DateTimeOffset.UnixEpoch.AddHours(round) });
                }

                store.Flush();
            }

            Assert.Equal(250, store.JournalRecords);
            store.Compact();
            Assert.Equal(50, store.JournalRecords);
        }

        File.Delete(DbPath);
        using var reopened = LiteDbLeaseStore.Open(DbPath);
        Assert.Equal(50, reopened.LoadAll().Count);
        Assert.All(reopened.LoadAll(), l => Assert.Equal(DateTimeOffset.UnixEpoch.AddHours(4), l.Expires));
    }

    [Fact]
    public void Engine_OnLiteDbStore_SurvivesRestartWithoutDoubleGrant()
    {
        using (var store = LiteDbLeaseStore.Open(DbPath))
        {
            var f = new EngineFixture(store: store);
            for (var mac = 1; mac <= 5; mac++)
            {
                f.Dora(mac);
            }

            store.Flush();
        }

        using var reopened = LiteDbLeaseStore.Open(DbPath);
        var f2 = new EngineFixture(store: reopened);
        var fresh = f2.Dora(6).YourAddress;
        Assert.DoesNotContain(fresh, reopened.LoadAll().Where(l => l.HardwareAddress != "52:54:00:00:00:06").Select(l => l.Address));
        Assert.Equal(6, f2.Engine.ActiveLeaseCount);
    }
}
