using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Leases;

/// <summary>
/// FsCheck properties of the journal writer and reader over random lease sets, with field sizes that
/// include the edges (254, 255, 256 bytes, a 255-byte client id as hex, 64 KiB).
/// </summary>
public sealed class LeaseJournalProperties
{
    private static readonly long MinMs = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
    private static readonly long MaxMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    private static Gen<int> FieldLength =>
        Gen.Frequency(
            (12, Gen.Choose(0, 40)),
            (4, Gen.Elements(125, 126, 254, 255, 256, 403, 513)),
            (1, Gen.Elements(4096, LeaseRecordCodec.MaxFieldLength)));

    private static Gen<string> Text(int length) =>
        length <= 600
            ? Gen.Elements('a', 'Z', '0', ':', '-', '.', ' ', '\0', 'é', '漢').ArrayOf(length).Select(c => new string(c))
            : Gen.Elements('x', 'y').Select(c => new string(c, length));

    private static Gen<byte[]> Raw(int length) =>
        length <= 600
            ? Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf(length)
            : Gen.Choose(0, 255).Select(b => Enumerable.Range(0, length).Select(i => (byte)(b + i)).ToArray());

    /// <summary>UTF-8 length within the field limit: a multi-byte string of n characters can need 3n bytes.</summary>
    private static Gen<string> FieldText => FieldLength.SelectMany(Text).Where(s => System.Text.Encoding.UTF8.GetByteCount(s) <= LeaseRecordCodec.MaxFieldLength);

    private static Gen<DateTimeOffset> Expiry =>
        Gen.Frequency(
            (1, Gen.Elements(MinMs, MaxMs, 0L)),
            (6, Gen.Choose(-2_000_000_000, 2_000_000_000).Zip(Gen.Choose(0, 999), (s, ms) => (s * 1000L) + ms)))
        .Select(DateTimeOffset.FromUnixTimeMilliseconds);

    /// <summary>A lease on one of 24 addresses, so later records often replace earlier ones.</summary>
    private static Gen<DhcpLease> Lease =>
        from host in Gen.Choose(1, 24)
        from state in Gen.Elements(DhcpLeaseState.Active, DhcpLeaseState.Released, DhcpLeaseState.Declined)
        from expires in Expiry
        from relay in Gen.Elements(0u, 0x0A010001u, uint.MaxValue)
        from clientId in FieldText
        from hardware in Gen.Elements("52:54:00:00:00:01", string.Empty, "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99")
        from hostName in FieldText.OrNull()
        from option82 in FieldLength.SelectMany(Raw).OrNull()
        select new DhcpLease
        {
            Address = new Ipv4Address(0x0A000000u + (uint)host),
            State = state,
            Expires = expires,
            RelayAddress = new Ipv4Address(relay),
            ClientId = clientId,
            HardwareAddress = hardware,
            HostName = hostName,
            RelayAgentInformation = option82,
        };

    /// <summary>Flushed batches (acknowledged), a batch saved but never flushed, and how much of one more record a crash left.</summary>
    private static Arbitrary<(List<List<DhcpLease>> Flushed, List<DhcpLease> Unflushed, int TornBytes)> Crashes =>
        (from flushed in Lease.ListOf().Resize(4).ListOf().Resize(6)
         from unflushed in Lease.ListOf().Resize(3)
         from torn in Gen.Choose(0, 40)
         select (flushed, unflushed, torn)).ToArbitrary();

    private static byte[] Encode(DhcpLease lease)
    {
        LeaseRecordCodec.TryMeasure(lease, out var length, out _);
        var buffer = new byte[length];
        LeaseRecordCodec.Write(lease, buffer);
        return buffer;
    }

    /// <summary>
    /// Write, crash (the journal as it was at the last fsync, plus a torn piece of a record that was
    /// being written), replay with no LiteDB file: exactly the acknowledged leases, the last per address.
    /// </summary>
    [Property(MaxTest = 60)]
    public Property WriteCrashReplay_NoDatabase_GivesExactlyTheAcknowledgedLeases() =>
        Prop.ForAll(Crashes, crash =>
        {
            var dir = Directory.CreateTempSubdirectory("kldhcp-prop-").FullName;
            try
            {
                var acknowledged = new Dictionary<uint, DhcpLease>();
                var store = LiteDbLeaseStore.Open(Path.Combine(dir, "leases.db"));
                foreach (var batch in crash.Flushed)
                {
                    foreach (var lease in batch)
                    {
                        store.Save(lease);
                        acknowledged[lease.Address.Value] = lease;
                    }

                    store.Flush();
                }

                foreach (var lease in crash.Unflushed)
                {
                    store.Save(lease);
                }

                var journal = File.ReadAllBytes(Path.Combine(dir, "leases.journal"));
                store.Dispose();
                var torn = crash.Unflushed.Count > 0 ? Encode(crash.Unflushed[0]) : [];
                var crashed = Directory.CreateDirectory(Path.Combine(dir, "crashed")).FullName;
                File.WriteAllBytes(Path.Combine(crashed, "leases.journal"), [.. journal, .. torn.AsSpan(0, Math.Min(crash.TornBytes, Math.Max(0, torn.Length - 1)))]);

                using var replayed = LiteDbLeaseStore.Open(Path.Combine(crashed, "leases.db"));
                var leases = replayed.LoadAll().OrderBy(l => l.Address).ToList();
                return leases.SequenceEqual(acknowledged.Values.OrderBy(l => l.Address), LeaseComparer.Instance);
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        });

    [Property(MaxTest = 300)]
    public Property WriteJournalThenReadJournal_RoundTripsInOrder() =>
        Prop.ForAll(Lease.ListOf().Resize(8).ToArbitrary(), leases =>
        {
            using var output = new MemoryStream();
            LiteDbLeaseStore.WriteJournal(output, leases);
            var read = LiteDbLeaseStore.ReadJournal(output.ToArray(), out var complete);
            return complete && read.SequenceEqual(leases, LeaseComparer.Instance);
        });

    /// <summary>A journal cut anywhere reads as the records wholly before the cut, never an error.</summary>
    [Property(MaxTest = 300)]
    public Property ReadJournal_CutAnywhere_GivesTheWholeRecordsBeforeTheCut() =>
        Prop.ForAll(Lease.ListOf().Resize(6).ToArbitrary(), Gen.Choose(0, 1000).ToArbitrary(), (leases, permille) =>
        {
            using var output = new MemoryStream();
            LiteDbLeaseStore.WriteJournal(output, leases);
            var bytes = output.ToArray();
            var cut = (int)((long)bytes.Length * permille / 1000);
            var whole = 0;
            var boundary = LeaseJournal.HeaderLength;
            foreach (var length in leases.Select(l => Encode(l).Length))
            {
                if (boundary + length > cut)
                {
                    break;
                }

                boundary += length;
                whole++;
            }

            var read = LiteDbLeaseStore.ReadJournal(bytes.AsSpan(0, cut), out var complete);
            return read.SequenceEqual(leases.Take(whole), LeaseComparer.Instance) && complete == (cut == 0 || cut == boundary);
        });

    /// <summary>One flipped bit stops replay at the record it hit (checksum), keeping every record before it.</summary>
    [Property(MaxTest = 300)]
    public Property ReadJournal_OneBitFlipped_KeepsTheRecordsBeforeIt() =>
        Prop.ForAll(Lease.NonEmptyListOf().Resize(6).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (leases, pick) =>
        {
            var records = leases.Select(Encode).ToList();
            byte[] bytes = [.. "KLDJ"u8, LeaseJournal.CurrentVersion, .. records.SelectMany(r => r)];
            var bit = LeaseJournal.HeaderLength * 8 + (pick % ((bytes.Length - LeaseJournal.HeaderLength) * 8));
            bytes[bit / 8] ^= (byte)(1 << (bit % 8));
            var hit = 0;
            var end = LeaseJournal.HeaderLength + records[0].Length;
            while (end <= bit / 8)
            {
                end += records[++hit].Length;
            }

            var read = LiteDbLeaseStore.ReadJournal(bytes, out var complete);
            return !complete && read.SequenceEqual(leases.Take(hit), LeaseComparer.Instance);
        });

    /// <summary>Random bytes, with or without a header: the reader returns or names an offset, nothing else.</summary>
    [Property(MaxTest = 3000)]
    public bool ReadJournal_RandomBytes_ReturnsOrThrowsJournalException(byte[] data, bool withHeader)
    {
        byte[] bytes = withHeader ? [.. "KLDJ"u8, LeaseJournal.CurrentVersion, .. data ?? []] : data ?? [];
        try
        {
            LiteDbLeaseStore.ReadJournal(bytes, out _);
        }
        catch (LeaseJournalException e)
        {
            return e.Offset >= 0 && e.Offset < bytes.Length;
        }

        return true;
    }

    /// <summary>Random payloads under a valid checksum (the reader's hardest case): a lease or a rejection, never an exception.</summary>
    [Property(MaxTest = 3000)]
    public bool TryRead_RandomPayloadWithValidChecksum_CompleteOrRejected(byte[] payload)
    {
        payload ??= [];
        var record = new byte[LeaseRecordCodec.LengthSize + payload.Length + LeaseRecordCodec.ChecksumSize];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(record, (uint)payload.Length);
        payload.CopyTo(record, LeaseRecordCodec.LengthSize);
        var end = LeaseRecordCodec.LengthSize + payload.Length;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(record.AsSpan(end), LeaseRecordCodec.Crc32(record.AsSpan(0, end)));
        var status = LeaseRecordCodec.TryRead(record, out var lease, out var consumed, out var rejection);
        return status switch
        {
            LeaseRecordStatus.Complete => consumed == record.Length && Encode(lease).AsSpan().SequenceEqual(record),
            LeaseRecordStatus.Rejected => rejection is not null,
            _ => false,
        };
    }
}
