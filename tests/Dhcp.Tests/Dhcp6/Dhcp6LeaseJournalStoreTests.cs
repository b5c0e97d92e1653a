using System.Buffers.Binary;
using System.Net;
using Kldload.Dhcp.Dhcp6.Leases;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Dhcp6;

public sealed class Dhcp6LeaseJournalStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kld6j-").FullName;

    private string JournalPath => Path.Combine(_dir, "leases6.journal");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Dhcp6Lease Lease(int n, DhcpLeaseState state = DhcpLeaseState.Active, bool relayed = false) => new()
    {
        Address = IPAddress.Parse($"fd00:10::{0x100 + n:x}"),
        ClientDuid = $"00:03:00:01:52:54:00:00:00:{n:x2}",
        Iaid = (uint)n,
        HardwareAddress = $"52:54:00:00:00:{n:x2}",
        State = state,
        Expires = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(n),
        RelayLinkAddress = relayed ? IPAddress.Parse("fd00:20::1") : null,
        InterfaceId = relayed ? "swp7"u8.ToArray() : null,
        RemoteId = relayed ? [0, 0, 0, 9, 1, 2] : null,
    };

    private static void AssertSame(Dhcp6Lease expected, Dhcp6Lease actual)
    {
        Assert.Equal(expected with { InterfaceId = null, RemoteId = null }, actual with { InterfaceId = null, RemoteId = null });
        Assert.Equal(expected.InterfaceId, actual.InterfaceId);
        Assert.Equal(expected.RemoteId, actual.RemoteId);
    }

    [Fact]
    public void Flush_ThenReopen_RestoresEveryLease_LastWriteWins()
    {
        using (var store = Dhcp6LeaseJournalStore.Open(JournalPath))
        {
            store.Save(Lease(1));
            store.Save(Lease(2, relayed: true));
            store.Flush();
            store.Save(Lease(1, DhcpLeaseState.Released));
            store.Flush();
        }

        using var reopened = Dhcp6LeaseJournalStore.Open(JournalPath);
        var leases = reopened.LoadAll().OrderBy(l => l.Iaid).ToList();
        Assert.Equal(2, leases.Count);
        AssertSame(Lease(1, DhcpLeaseState.Released), leases[0]);
        AssertSame(Lease(2, relayed: true), leases[1]);
        Assert.Equal(3, reopened.JournalRecords);
    }

    [Fact]
    public void SavedButNotFlushed_IsNotDurable()
    {
        using (var store = Dhcp6LeaseJournalStore.Open(JournalPath))
        {
            store.Save(Lease(1));
            store.Flush();
            store.Save(Lease(2));
        }

        using var reopened = Dhcp6LeaseJournalStore.Open(JournalPath);
        Assert.Equal([1u], reopened.LoadAll().Select(l => l.Iaid));
    }

    [Fact]
    public void TornTail_AtEveryLength_IsCutOff_AndAppendsContinue()
    {
        using (var store = Dhcp6LeaseJournalStore.Open(JournalPath))
        {
            store.Save(Lease(1));
            store.Flush();
            store.Save(Lease(2, relayed: true));
            store.Flush();
        }

        var whole = File.ReadAllBytes(JournalPath);
        var firstEnd = 5 + 4 + (int)BinaryPrimitives.ReadUInt32BigEndian(whole.AsSpan(5)) + 4;
        for (var length = firstEnd; length < whole.Length; length++)
        {
            File.WriteAllBytes(JournalPath, whole.AsSpan(0, length).ToArray());
            using (var store = Dhcp6LeaseJournalStore.Open(JournalPath))
            {
                Assert.Equal([1u], store.LoadAll().Select(l => l.Iaid));
                store.Save(Lease(3));
                store.Flush();
            }

            using var again = Dhcp6LeaseJournalStore.Open(JournalPath);
            Assert.Equal([1u, 3u], again.LoadAll().Select(l => l.Iaid).Order());
        }
    }

    [Fact]
    public void RecordWithValidChecksumButUnknownState_StopsTheOpen_NamingItsOffset()
    {
        using (var store = Dhcp6LeaseJournalStore.Open(JournalPath))
        {
            store.Save(Lease(1));
            store.Flush();
        }

        var bytes = File.ReadAllBytes(JournalPath);
        bytes[5 + 4 + 16] = 77;
        var end = bytes.Length - 4;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(end), LeaseRecordCodec.Crc32(bytes.AsSpan(5, end - 5)));
        File.WriteAllBytes(JournalPath, bytes);
        var e = Assert.Throws<LeaseJournalException>(() => Dhcp6LeaseJournalStore.Open(JournalPath));
        Assert.Equal(5, e.Offset);
        Assert.Equal(bytes.Length, new FileInfo(JournalPath).Length);
    }

    [Fact]
    public void NotAJournal_IsRefused()
    {
        File.WriteAllBytes(JournalPath, "KLDJ\u0002"u8.ToArray());
        Assert.Throws<LeaseJournalException>(() => Dhcp6LeaseJournalStore.Open(JournalPath));
    }

    [Fact]
    public void Compact_KeepsOneRecordPerAddress()
    {
        using (var store = Dhcp6LeaseJournalStore.Open(JournalPath))
        {
            for (var i = 0; i < 10; i++)
            {
                store.Save(Lease(i % 3));
                store.Flush();
            }

            store.Compact();
            Assert.Equal(3, store.JournalRecords);
            store.Save(Lease(4));
            store.Flush();
        }

        using var reopened = Dhcp6LeaseJournalStore.Open(JournalPath);
        Assert.Equal([0u, 1u, 2u, 4u], reopened.LoadAll().Select(l => l.Iaid).Order());
        Assert.Equal(4, reopened.JournalRecords);
    }

    [Fact]
    public void Engine_OverTheJournal_BindingSurvivesRestart()
    {
        IPAddress address;
        using (var store = Dhcp6LeaseJournalStore.Open(JournalPath))
        {
            var f = new Engine6Fixture(store: store);
            address = f.Bind(5);
            store.Flush();
        }

        using var reopened = Dhcp6LeaseJournalStore.Open(JournalPath);
        var again = new Engine6Fixture(store: reopened);
        Assert.Equal(address, again.Answer(Engine6Fixture.Message(Kldload.Dhcp.Dhcp6.Protocol.Dhcp6MessageType.Solicit, 5)).Options.IaNas[0].Options.IaAddresses[0].Address);
    }
}
