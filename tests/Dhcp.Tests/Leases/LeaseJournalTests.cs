using System.Buffers.Binary;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using Kldload.Dhcp.Tests.Server;

namespace Kldload.Dhcp.Tests.Leases;

/// <summary>The journal on its own: replay after a crash with the LiteDB file gone, upgrade from version 1, refusal to truncate.</summary>
[Trait("Tier", "Integration")]
public sealed class LeaseJournalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldhcp-journal-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string DbPath => Path.Combine(_dir, "leases.db");

    private string JournalPath => Path.Combine(_dir, "leases.journal");

    private static DhcpLease Lease(int host, string clientId) => new()
    {
        Address = new Ipv4Address(0x0A000000u + (uint)host),
        ClientId = clientId,
        HardwareAddress = $"52:54:00:00:00:{host:x2}",
        State = DhcpLeaseState.Active,
        Expires = new DateTimeOffset(2026, 1, 1, 1, 0, 0, TimeSpan.Zero),
        HostName = "node" + host,
    };

    /// <summary>The identity the engine derives from a 200-byte option 61 (403 characters).</summary>
    private static string LongClientId(byte fill) => "id:" + Convert.ToHexString(Enumerable.Repeat(fill, 200).ToArray());

    /// <summary>Copies only the journal, as a crash that also lost the LiteDB file would leave the data directory.</summary>
    private string CrashCopyWithoutDatabase()
    {
        var copy = Path.Combine(_dir, "crash-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(copy);
        File.Copy(JournalPath, Path.Combine(copy, "leases.journal"));
        return Path.Combine(copy, "leases.db");
    }

    [Fact]
    public void Replay_ClientIdOf200BytesBetweenTwoLeases_AllThreeBackWithoutDatabase()
    {
        DhcpLease[] leases = [Lease(1, "hw:525400000001"), Lease(2, LongClientId(0xAB)), Lease(3, "hw:525400000003")];
        var store = LiteDbLeaseStore.Open(DbPath);
        foreach (var lease in leases)
        {
            store.Save(lease);
            store.Flush();
        }

        var crashed = CrashCopyWithoutDatabase();
        store.Dispose();

        using var reopened = LiteDbLeaseStore.Open(crashed);
        Assert.Equal(leases, reopened.LoadAll().OrderBy(l => l.Address), LeaseComparer.Instance);
    }

    [Fact]
    public void Engine_ClientIdOf200Bytes_LeaseSurvivesCrashFromJournalAloneAndIsNotOfferedToOthers()
    {
        var store = LiteDbLeaseStore.Open(DbPath);
        var f = new EngineFixture(store: store);
        var longId = (Action<DhcpMessage>)(m => m.Options.Set(DhcpOptionCode.ClientIdentifier, Enumerable.Repeat((byte)0x5A, 200).ToArray()));
        var granted = new[] { f.Dora(1).YourAddress, f.Dora(2, longId).YourAddress, f.Dora(3).YourAddress };
        store.Flush();
        var crashed = CrashCopyWithoutDatabase();
        store.Dispose();

        using var reopened = LiteDbLeaseStore.Open(crashed);
        var f2 = new EngineFixture(store: reopened);
        Assert.Equal(granted.Order(), reopened.LoadAll().Select(l => l.Address).Order());
        Assert.DoesNotContain(f2.Dora(4).YourAddress, granted);

        // The long-id client gets its own address back at INIT-REBOOT.
        var reboot = f2.Reply(EngineFixture.Message(DhcpMessageType.Request, 2, m =>
        {
            longId(m);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, granted[1]);
        }))!;
        Assert.Equal(DhcpMessageType.Ack, reboot.Options.MessageType);
        Assert.Equal(granted[1], reboot.YourAddress);
    }

    [Fact]
    public void Open_Version1JournalWithLostClientIdInMiddle_ReplaysEveryRecordAndRewritesAsVersion2()
    {
        DhcpLease[] leases = [Lease(1, "hw:525400000001"), Lease(2, LongClientId(0xCD)), Lease(3, "hw:525400000003")];
        File.WriteAllBytes(JournalPath, JournalVersion1.Write(leases));

        DhcpLease[] expected = [leases[0], leases[1] with { ClientId = LegacyLeaseRecordCodec.LostClientIdPrefix + "52:54:00:00:00:02" }, leases[2]];
        using (var store = LiteDbLeaseStore.Open(DbPath))
        {
            Assert.Equal(expected, store.LoadAll().OrderBy(l => l.Address), LeaseComparer.Instance);
        }

        var rewritten = File.ReadAllBytes(JournalPath);
        Assert.Equal("KLDJ"u8.ToArray().Append(LeaseJournal.CurrentVersion), rewritten[..LeaseJournal.HeaderLength]);
        Assert.Equal(expected, LiteDbLeaseStore.ReadJournal(rewritten, out var complete).OrderBy(l => l.Address), LeaseComparer.Instance);
        Assert.True(complete);

        // And again from the converted journal alone.
        File.Delete(DbPath);
        using var reopened = LiteDbLeaseStore.Open(DbPath);
        Assert.Equal(expected, reopened.LoadAll().OrderBy(l => l.Address), LeaseComparer.Instance);
    }

    [Fact]
    public void Open_Version1JournalThenNewLeases_RestartLosesNothing()
    {
        File.WriteAllBytes(JournalPath, JournalVersion1.Write(Lease(1, "hw:525400000001"), Lease(2, "hw:525400000002")));
        var store = LiteDbLeaseStore.Open(DbPath);
        store.Save(Lease(3, LongClientId(0x01)));
        store.Flush();
        var crashed = CrashCopyWithoutDatabase();
        store.Dispose();

        using var reopened = LiteDbLeaseStore.Open(crashed);
        Assert.Equal([1u, 2u, 3u], reopened.LoadAll().Select(l => l.Address.Value - 0x0A000000u).Order());
        Assert.Equal(LongClientId(0x01), reopened.LoadAll().Single(l => l.Address.Value == 0x0A000003u).ClientId);
    }

    [Fact]
    public void Open_Version1JournalWithTornTail_KeepsWholeRecords()
    {
        var whole = JournalVersion1.Write(Lease(1, "hw:525400000001"), Lease(2, "hw:525400000002"));
        var torn = JournalVersion1.Record(Lease(3, "hw:525400000003"));
        File.WriteAllBytes(JournalPath, [.. whole, .. torn[..^3]]);

        using var store = LiteDbLeaseStore.Open(DbPath);
        Assert.Equal([1u, 2u], store.LoadAll().Select(l => l.Address.Value - 0x0A000000u).Order());
    }

    [Fact]
    public void Open_Version2RecordWithValidChecksumButUnknownState_ThrowsNamingOffsetAndTruncatesNothing()
    {
        using (var store = LiteDbLeaseStore.Open(DbPath))
        {
            store.Save(Lease(1, "hw:525400000001"));
            store.Save(Lease(2, "hw:525400000002"));
            store.Save(Lease(3, "hw:525400000003"));
            store.Flush();
        }

        // Make the second record unreadable but whole: state 9, checksum recomputed.
        var bytes = File.ReadAllBytes(JournalPath);
        var second = LeaseJournal.HeaderLength + RecordLength(bytes, LeaseJournal.HeaderLength);
        bytes[second + LeaseRecordCodec.LengthSize + 4] = 9;
        var end = second + RecordLength(bytes, second) - LeaseRecordCodec.ChecksumSize;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(end), LeaseRecordCodec.Crc32(bytes.AsSpan(second, end - second)));
        File.WriteAllBytes(JournalPath, bytes);
        File.Delete(DbPath);

        var e = Assert.Throws<LeaseJournalException>(() => LiteDbLeaseStore.Open(DbPath));
        Assert.Equal(second, e.Offset);
        Assert.Equal(JournalPath, e.Path);
        Assert.Contains($"offset {second}", e.Message, StringComparison.Ordinal);
        Assert.Contains("9 is not a lease state", e.Message, StringComparison.Ordinal);
        Assert.Equal(bytes, File.ReadAllBytes(JournalPath));
    }

    [Fact]
    public void Open_Version1RecordWithValidChecksumButNoHardwareAddress_ThrowsNamingOffsetAndTruncatesNothing()
    {
        var first = JournalVersion1.Record(Lease(1, "hw:525400000001"));
        var payload = new byte[17 + 4];
        payload[4] = 1;
        payload[17] = 0;
        payload[18] = 255; // hardware address absent: never written by version 1
        payload[19] = 255;
        payload[20] = 255;
        byte[] journal = [.. first, .. JournalVersion1.Frame(payload), .. JournalVersion1.Record(Lease(3, "hw:525400000003"))];
        File.WriteAllBytes(JournalPath, journal);

        var e = Assert.Throws<LeaseJournalException>(() => LiteDbLeaseStore.Open(DbPath));
        Assert.Equal(first.Length, e.Offset);
        Assert.Equal(journal, File.ReadAllBytes(JournalPath));
    }

    [Fact]
    public void Open_UnknownVersion_Throws()
    {
        File.WriteAllBytes(JournalPath, [.. "KLDJ"u8, 3, 0, 0, 0, 0]);
        var e = Assert.Throws<LeaseJournalException>(() => LiteDbLeaseStore.Open(DbPath));
        Assert.Contains("version 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_TornHeader_StartsAnEmptyJournalThatKeepsNewLeases()
    {
        File.WriteAllBytes(JournalPath, "KL"u8.ToArray());
        using (var store = LiteDbLeaseStore.Open(DbPath))
        {
            Assert.Empty(store.LoadAll());
            store.Save(Lease(1, "hw:525400000001"));
            store.Flush();
        }

        File.Delete(DbPath);
        using var reopened = LiteDbLeaseStore.Open(DbPath);
        Assert.Single(reopened.LoadAll());
    }

    [Fact]
    public void Open_NewDirectory_WritesHeaderBeforeAnyLease()
    {
        using var store = LiteDbLeaseStore.Open(DbPath);
        Assert.Equal([.. "KLDJ"u8, LeaseJournal.CurrentVersion], File.ReadAllBytes(JournalPath));
    }

    [Fact]
    public void Save_LeaseTheJournalCannotHold_ThrowsBeforeFlush()
    {
        using var store = LiteDbLeaseStore.Open(DbPath);
        Assert.Throws<ArgumentException>(() => store.Save(Lease(1, new string('x', LeaseRecordCodec.MaxFieldLength + 1))));
        store.Flush();
        Assert.Empty(store.LoadAll());
    }

    [Fact]
    public void ReadJournal_Version1Backup_ReadsEveryLease()
    {
        // A backup archive made by an older kldload holds a version 1 journal.
        DhcpLease[] leases = [Lease(1, "hw:525400000001"), Lease(2, "hw:525400000002")];
        Assert.Equal(leases, LiteDbLeaseStore.ReadJournal(JournalVersion1.Write(leases), out var complete), LeaseComparer.Instance);
        Assert.True(complete);
    }

    private static int RecordLength(byte[] journal, int offset) =>
        LeaseRecordCodec.LengthSize + (int)BinaryPrimitives.ReadUInt32BigEndian(journal.AsSpan(offset)) + LeaseRecordCodec.ChecksumSize;
}
