using System.Threading.Channels;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using LiteDB;

namespace Kldload.Dhcp.Leases;

/// <summary>
/// Leases in their own LiteDB file (Direct mode, opened once by the server), made durable by a
/// write-ahead journal beside it.
/// <para>
/// Why the journal: LiteDB 5 commits by queueing pages for a background writer thread; <c>Commit</c>
/// returns before the pages reach the file, so a <c>kill -9</c> right after an ACK could lose the lease
/// it granted. Here every change is appended to <c>leases.journal</c> and the journal is fsynced in
/// <see cref="Flush"/>, which the server calls before any reply of the batch leaves. On open the
/// journal is replayed into LiteDB (a torn last record is cut off: its ACK was never sent; a record
/// with a valid checksum that cannot be read stops the open with a <see cref="LeaseJournalException"/>
/// naming its offset). The journal alone is enough: with the LiteDB file gone, replay restores every
/// acknowledged lease. When the journal grows past <see cref="CompactAfterRecords"/> it is rewritten
/// with one record per address (temporary file, fsync, atomic rename). A version 1 journal (an older
/// kldload's) is replayed and rewritten in the current format on open (<see cref="LeaseJournal"/>).
/// </para>
/// </summary>
public sealed class LiteDbLeaseStore : ILeaseStore
{
    /// <summary>Journal records kept before it is rewritten as a snapshot.</summary>
    public const int CompactAfterRecords = 200_000;

    private const string CollectionName = "leases";

    private readonly Lock _lock = new();
    private readonly LiteDatabase _db;
    private readonly ILiteCollection<BsonDocument> _leases;
    private readonly string _journalPath;
    private readonly Dictionary<uint, DhcpLease> _current = [];
    private readonly Lock _flushLock = new();
    private List<DhcpLease> _staged = [];
    private readonly Channel<object> _dbWrites = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _dbWriter;
    private FileStream _journal;
    private byte[] _buffer = new byte[64 * 1024];
    private int _journalRecords;

    private LiteDbLeaseStore(LiteDatabase db, string journalPath)
    {
        _db = db;
        _leases = db.GetCollection<BsonDocument>(CollectionName);
        _journalPath = journalPath;
        foreach (var doc in _leases.FindAll())
        {
            if (FromDocument(doc) is { } lease)
            {
                _current[lease.Address.Value] = lease;
            }
        }

        ReplayJournal();
        _journal = OpenJournalForAppend();
        _dbWriter = Task.Run(WriteDatabaseAsync);
    }

    /// <summary>Records written to the journal since it was last compacted.</summary>
    public int JournalRecords => _journalRecords;

    /// <summary>Opens (or creates) <paramref name="databasePath"/> and its journal <c>{path without .db}.journal</c>.</summary>
    public static LiteDbLeaseStore Open(string databasePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(databasePath);
        var directory = Path.GetDirectoryName(Path.GetFullPath(databasePath))!;
        Directory.CreateDirectory(directory);
        var db = new LiteDatabase(new ConnectionString { Filename = databasePath, Connection = ConnectionType.Direct });
        try
        {
            return new LiteDbLeaseStore(db, Path.ChangeExtension(databasePath, ".journal"));
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    public IReadOnlyList<DhcpLease> LoadAll()
    {
        lock (_lock)
        {
            return _current.Values.ToList();
        }
    }

    /// <exception cref="ArgumentException">The lease cannot be written to the journal (a field longer than 64 KiB).</exception>
    public void Save(DhcpLease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        if (!LeaseRecordCodec.TryMeasure(lease, out _, out var error))
        {
            // Refused here, on the caller's thread, so a lease the journal cannot hold never reaches Flush.
            throw new ArgumentException($"lease {lease.Address} cannot be journaled: {error}", nameof(lease));
        }

        lock (_lock)
        {
            _current[lease.Address.Value] = lease;
            _staged.Add(lease);
        }
    }

    /// <summary>
    /// Appends every lease saved so far to the journal and fsyncs it. Saves may continue on other threads
    /// while the disk works: the staged list is swapped under the lock and written outside it.
    /// </summary>
    public void Flush()
    {
        lock (_flushLock)
        {
            List<DhcpLease> batch;
            lock (_lock)
            {
                if (_staged.Count == 0)
                {
                    return;
                }

                batch = _staged;
                _staged = [];
            }

            // 1. Journal: append the batch and fsync. After this the ACKs may leave.
            var needed = 0;
            foreach (var lease in batch)
            {
                LeaseRecordCodec.TryMeasure(lease, out var length, out _);
                needed += length;
            }

            if (_buffer.Length < needed)
            {
                _buffer = new byte[needed];
            }

            var n = 0;
            foreach (var lease in batch)
            {
                n += LeaseRecordCodec.Write(lease, _buffer.AsSpan(n));
            }

            _journal.Write(_buffer, 0, n);
            _journal.Flush(flushToDisk: true);
            _journalRecords += batch.Count;

            // 2. LiteDB, the queryable copy, is written behind by its own thread: its commits (and
            //    its periodic checkpoints) must not hold up replies. The journal already has the batch.
            _dbWrites.Writer.TryWrite(batch.ToArray());

            if (_journalRecords >= CompactAfterRecords)
            {
                Compact();
            }
        }
    }

    /// <summary>Waits until every flushed lease is also in LiteDB (for tests and shutdown).</summary>
    public void WaitForDatabase()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _dbWrites.Writer.TryWrite(done);
        done.Task.Wait(TimeSpan.FromSeconds(30));
    }

    private async Task WriteDatabaseAsync()
    {
        var reader = _dbWrites.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            var batch = new List<DhcpLease>();
            var waiters = new List<TaskCompletionSource>();
            while (reader.TryRead(out var item))
            {
                if (item is DhcpLease[] leases)
                {
                    batch.AddRange(leases);
                }
                else if (item is TaskCompletionSource waiter)
                {
                    waiters.Add(waiter);
                }
            }

            if (batch.Count > 0)
            {
                _db.BeginTrans();
                foreach (var lease in batch)
                {
                    _leases.Upsert(ToDocument(lease));
                }

                _db.Commit();
            }

            foreach (var w in waiters)
            {
                w.TrySetResult();
            }
        }
    }

    /// <inheritdoc/>
    /// <remarks>The staged leases are flushed first, then the current set is taken under the lock.</remarks>
    public IReadOnlyList<DhcpLease> Snapshot()
    {
        Flush();
        return LoadAll();
    }

    /// <summary>
    /// Writes <paramref name="leases"/> in the journal's record format: a file that
    /// <see cref="Open"/> replays into an empty lease database (a restore writes one as <c>leases.journal</c>).
    /// </summary>
    /// <exception cref="ArgumentException">A lease cannot be journaled (see <see cref="Save"/>).</exception>
    public static void WriteJournal(Stream destination, IEnumerable<DhcpLease> leases)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(leases);
        LeaseJournal.WriteHeader(destination);
        var buffer = Array.Empty<byte>();
        foreach (var lease in leases)
        {
            if (!LeaseRecordCodec.TryMeasure(lease, out var length, out var error))
            {
                throw new ArgumentException($"lease {lease.Address} cannot be journaled: {error}", nameof(leases));
            }

            if (buffer.Length < length)
            {
                buffer = new byte[Math.Max(length, 4096)];
            }

            destination.Write(buffer, 0, LeaseRecordCodec.Write(lease, buffer));
        }
    }

    /// <summary>
    /// Reads a journal of either format version (one written by <see cref="WriteJournal"/>, a live
    /// journal, or an older kldload's). A torn tail ends it (<paramref name="complete"/> is false).
    /// </summary>
    /// <exception cref="LeaseJournalException">A record with a valid checksum that cannot be read; its offset is named.</exception>
    public static IReadOnlyList<DhcpLease> ReadJournal(ReadOnlySpan<byte> journal, out bool complete)
    {
        var contents = LeaseJournal.Read(journal);
        complete = !contents.HasTornTail;
        return contents.Leases;
    }

    /// <summary>Rewrites the journal as one record per address (for tests and at the size limit).</summary>
    public void Compact()
    {
        lock (_flushLock)
        {
            List<DhcpLease> snapshot;
            lock (_lock)
            {
                snapshot = _current.Values.ToList();
            }

            // The old file stays open for appends until the new one has replaced it.
            RewriteJournal(snapshot);
            _journal.Dispose();
            _journal = OpenJournalForAppend();
            _journalRecords = snapshot.Count;
        }
    }

    /// <summary>Replaces the journal with a current-format one holding <paramref name="leases"/> (temporary file, fsync, atomic rename).</summary>
    private void RewriteJournal(IEnumerable<DhcpLease> leases)
    {
        var tmp = _journalPath + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            WriteJournal(fs, leases);
            fs.Flush(flushToDisk: true);
        }

        File.Move(tmp, _journalPath, overwrite: true);
    }

    public void Dispose()
    {
        _dbWrites.Writer.TryComplete();
        _dbWriter.Wait(TimeSpan.FromSeconds(30));
        lock (_lock)
        {
            _journal.Dispose();
            _db.Dispose();
        }
    }

    private FileStream OpenJournalForAppend()
    {
        if (!File.Exists(_journalPath) || new FileInfo(_journalPath).Length == 0)
        {
            // A new journal starts with its header, made durable before any record is appended.
            RewriteJournal([]);
        }

        return new(_journalPath, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 1);
    }

    private void ReplayJournal()
    {
        if (!File.Exists(_journalPath))
        {
            return;
        }

        var bytes = File.ReadAllBytes(_journalPath);
        LeaseJournalContents contents;
        try
        {
            contents = LeaseJournal.Read(bytes);
        }
        catch (LeaseJournalException e)
        {
            // Nothing is truncated: the records after the rejected one were acknowledged to clients.
            throw new LeaseJournalException(_journalPath, e.Offset, e.Reason);
        }

        var replayed = contents.Leases;
        foreach (var lease in replayed)
        {
            _current[lease.Address.Value] = lease;
        }

        _journalRecords = replayed.Count;
        if (contents.Version != LeaseJournal.CurrentVersion)
        {
            // An older kldload's journal: everything it holds is in _current now; rewrite it in the
            // current format (atomically) so appends never mix two formats in one file.
            RewriteJournal(_current.Values);
            _journalRecords = _current.Count;
        }
        else if (contents.HasTornTail)
        {
            // A torn tail from a crash mid-write: its batch was never acknowledged. Cut it off so
            // later appends start on a record boundary.
            using var fs = new FileStream(_journalPath, FileMode.Open, FileAccess.Write);
            fs.SetLength(contents.ValidLength);
            fs.Flush(flushToDisk: true);
        }
        if (replayed.Count > 0)
        {
            _db.BeginTrans();
            foreach (var lease in replayed)
            {
                _leases.Upsert(ToDocument(lease));
            }

            _db.Commit();
        }
    }

    private static BsonDocument ToDocument(DhcpLease lease)
    {
        var doc = new BsonDocument
        {
            ["_id"] = (long)lease.Address.Value,
            ["address"] = lease.Address.ToString(),
            ["clientId"] = lease.ClientId,
            ["mac"] = lease.HardwareAddress,
            ["state"] = (int)lease.State,
            ["expires"] = lease.Expires.UtcDateTime,
            ["expiresMs"] = lease.Expires.ToUnixTimeMilliseconds(),
            ["relay"] = (long)lease.RelayAddress.Value,
        };
        if (lease.HostName is not null)
        {
            doc["hostName"] = lease.HostName;
        }

        if (lease.RelayAgentInformation is not null)
        {
            doc["option82"] = lease.RelayAgentInformation;
        }

        return doc;
    }

    private static DhcpLease? FromDocument(BsonDocument doc)
    {
        if (!doc["_id"].IsNumber || !doc["clientId"].IsString || !doc["mac"].IsString || !doc["expiresMs"].IsNumber)
        {
            return null;
        }

        return new DhcpLease
        {
            Address = new Ipv4Address((uint)doc["_id"].AsInt64),
            ClientId = doc["clientId"].AsString,
            HardwareAddress = doc["mac"].AsString,
            State = (DhcpLeaseState)doc["state"].AsInt32,
            Expires = DateTimeOffset.FromUnixTimeMilliseconds(doc["expiresMs"].AsInt64),
            RelayAddress = new Ipv4Address((uint)doc["relay"].AsInt64),
            HostName = doc["hostName"].IsString ? doc["hostName"].AsString : null,
            RelayAgentInformation = doc["option82"].IsBinary ? doc["option82"].AsBinary : null,
        };
    }
}
