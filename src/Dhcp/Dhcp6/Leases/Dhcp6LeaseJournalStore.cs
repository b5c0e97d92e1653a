using System.Net;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Leases;

namespace Kldload.Dhcp.Dhcp6.Leases;

/// <summary>
/// DHCPv6 leases in an append-only journal (<c>leases6.journal</c>), with the DHCPv4 store's
/// durability (<see cref="LiteDbLeaseStore"/>): every change is appended and the file is fsynced in
/// <see cref="Flush"/>, which the server calls before any REPLY that grants a lease leaves (group
/// commit), so a <c>kill -9</c> never loses an acknowledged lease. On open the journal is replayed; a
/// torn tail (a crash mid-write: its batch was never acknowledged) is cut off; a record with a valid
/// checksum that cannot be read stops the open with a <see cref="LeaseJournalException"/> naming its
/// offset. Past <see cref="CompactAfterRecords"/> records it is rewritten with one record per
/// address (temporary file, fsync, atomic rename).
/// <code>
/// | "KLD6" (4) | version (1) | records (<see cref="Dhcp6LeaseRecordCodec"/>) ...
/// </code>
/// </summary>
public sealed class Dhcp6LeaseJournalStore : IDhcp6LeaseStore
{
    /// <summary>Journal records kept before it is rewritten as a snapshot.</summary>
    public const int CompactAfterRecords = 200_000;

    private const byte Version = 1;
    private const int HeaderLength = 5;

    private readonly Lock _lock = new();
    private readonly Lock _flushLock = new();
    private readonly string _path;
    private readonly Dictionary<IPAddress, Dhcp6Lease> _current = [];
    private List<Dhcp6Lease> _staged = [];
    private FileStream _journal;
    private byte[] _buffer = new byte[64 * 1024];
    private int _records;

    private Dhcp6LeaseJournalStore(string path)
    {
        _path = path;
        Replay();
        _journal = OpenForAppend();
    }

    private static ReadOnlySpan<byte> Magic => "KLD6"u8;

    /// <summary>Records appended since the journal was last compacted.</summary>
    public int JournalRecords => _records;

    /// <summary>Opens (or creates) the journal at <paramref name="path"/>.</summary>
    public static Dhcp6LeaseJournalStore Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return new Dhcp6LeaseJournalStore(path);
    }

    public IReadOnlyList<Dhcp6Lease> LoadAll()
    {
        lock (_lock)
        {
            return _current.Values.ToList();
        }
    }

    /// <exception cref="ArgumentException">A field of the lease is longer than the journal can hold (65535 bytes).</exception>
    public void Save(Dhcp6Lease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        if (!Dhcp6LeaseRecordCodec.TryMeasure(lease, out _))
        {
            throw new ArgumentException($"lease {lease.Address} cannot be journaled: a field is longer than 65535 bytes", nameof(lease));
        }

        lock (_lock)
        {
            _current[lease.Address] = lease;
            _staged.Add(lease);
        }
    }

    /// <summary>Appends every lease saved so far and fsyncs; saves may continue while the disk works.</summary>
    public void Flush()
    {
        lock (_flushLock)
        {
            List<Dhcp6Lease> batch;
            lock (_lock)
            {
                if (_staged.Count == 0)
                {
                    return;
                }

                batch = _staged;
                _staged = [];
            }

            var needed = 0;
            foreach (var lease in batch)
            {
                Dhcp6LeaseRecordCodec.TryMeasure(lease, out var n);
                needed += n;
            }

            if (_buffer.Length < needed)
            {
                _buffer = new byte[needed];
            }

            var written = 0;
            foreach (var lease in batch)
            {
                written += Dhcp6LeaseRecordCodec.Write(lease, _buffer.AsSpan(written));
            }

            _journal.Write(_buffer, 0, written);
            _journal.Flush(flushToDisk: true);
            _records += batch.Count;
            if (_records >= CompactAfterRecords)
            {
                Compact();
            }
        }
    }

    /// <summary>Rewrites the journal as one record per address.</summary>
    public void Compact()
    {
        lock (_flushLock)
        {
            List<Dhcp6Lease> snapshot;
            lock (_lock)
            {
                snapshot = _current.Values.ToList();
            }

            Rewrite(snapshot);
            _journal.Dispose();
            _journal = OpenForAppend();
            _records = snapshot.Count;
        }
    }

    /// <summary>Reads every whole record of a journal's bytes; <paramref name="validLength"/> is where a torn tail begins.</summary>
    /// <exception cref="LeaseJournalException">A record with a valid checksum that cannot be read, or a file that is not a DHCPv6 journal.</exception>
    public static IReadOnlyList<Dhcp6Lease> Read(ReadOnlySpan<byte> journal, out long validLength)
    {
        var leases = new List<Dhcp6Lease>();
        validLength = 0;
        if (journal.Length < HeaderLength)
        {
            if (!Magic[..Math.Min(journal.Length, Magic.Length)].SequenceEqual(journal[..Math.Min(journal.Length, Magic.Length)]))
            {
                throw new LeaseJournalException(0, "not a DHCPv6 lease journal (no KLD6 header)");
            }

            return leases;
        }

        if (!journal.StartsWith(Magic) || journal[Magic.Length] != Version)
        {
            throw new LeaseJournalException(0, $"not a version {Version} DHCPv6 lease journal");
        }

        var offset = HeaderLength;
        while (offset < journal.Length)
        {
            var status = Dhcp6LeaseRecordCodec.TryRead(journal[offset..], out var lease, out var consumed, out var rejection);
            if (status == LeaseRecordStatus.Torn)
            {
                break;
            }

            if (status == LeaseRecordStatus.Rejected)
            {
                throw new LeaseJournalException(offset, "the record's checksum is valid but " + rejection);
            }

            leases.Add(lease!);
            offset += consumed;
        }

        validLength = offset;
        return leases;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _journal.Dispose();
        }
    }

    private void Replay()
    {
        if (!File.Exists(_path))
        {
            return;
        }

        var bytes = File.ReadAllBytes(_path);
        IReadOnlyList<Dhcp6Lease> leases;
        long valid;
        try
        {
            leases = Read(bytes, out valid);
        }
        catch (LeaseJournalException e)
        {
            throw new LeaseJournalException(_path, e.Offset, e.Reason);
        }

        foreach (var lease in leases)
        {
            _current[lease.Address] = lease;
        }

        _records = leases.Count;
        if (valid < bytes.Length && bytes.Length >= HeaderLength)
        {
            using var fs = new FileStream(_path, FileMode.Open, FileAccess.Write);
            fs.SetLength(valid);
            fs.Flush(flushToDisk: true);
        }
    }

    /// <summary>
    /// Writes <paramref name="leases"/> as a whole journal (header, one record each) to
    /// <paramref name="output"/>: what compaction writes, and what a backup carries.
    /// </summary>
    public static void WriteJournal(Stream output, IEnumerable<Dhcp6Lease> leases)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(leases);
        Span<byte> header = stackalloc byte[HeaderLength];
        Magic.CopyTo(header);
        header[Magic.Length] = Version;
        output.Write(header);
        var buffer = new byte[4096];
        foreach (var lease in leases)
        {
            Dhcp6LeaseRecordCodec.TryMeasure(lease, out var n);
            if (buffer.Length < n)
            {
                buffer = new byte[n];
            }

            output.Write(buffer, 0, Dhcp6LeaseRecordCodec.Write(lease, buffer));
        }
    }

    private void Rewrite(IEnumerable<Dhcp6Lease> leases)
    {
        var tmp = _path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            WriteJournal(fs, leases);
            fs.Flush(flushToDisk: true);
        }

        File.Move(tmp, _path, overwrite: true);
    }

    private FileStream OpenForAppend()
    {
        if (!File.Exists(_path) || new FileInfo(_path).Length < HeaderLength)
        {
            Rewrite([]);
        }

        return new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 1);
    }
}
