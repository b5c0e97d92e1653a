using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Leases;

/// <summary>
/// The lease journal file: a header naming the format version, then lease records appended in the
/// order they were made durable.
/// <code>
/// +------------+-------------+----------------------------------------+
/// | "KLDJ" (4) | version (1) | records (<see cref="LeaseRecordCodec"/>) ...
/// +------------+-------------+----------------------------------------+
/// </code>
/// A file without the header is a version 1 journal (<see cref="LegacyLeaseRecordCodec"/>): its first
/// two bytes are a record length of at most 1037, never "KL" (0x4B4C). Replay rules, for both versions:
/// a record that is too short for its length or fails its checksum is a torn tail, cut off (its batch
/// was never acknowledged); a record whose checksum is valid but whose content is not accepted stops
/// the replay with a <see cref="LeaseJournalException"/> naming its offset, and nothing is cut off.
/// </summary>
internal static class LeaseJournal
{
    /// <summary>The version this code writes.</summary>
    public const byte CurrentVersion = 2;

    /// <summary>Bytes of the header.</summary>
    public const int HeaderLength = 5;

    private const int VersionOffset = 4;

    /// <summary>The magic at the start of every journal since version 2.</summary>
    public static ReadOnlySpan<byte> Magic => "KLDJ"u8;

    /// <summary>Writes the current header.</summary>
    public static void WriteHeader(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Span<byte> header = stackalloc byte[HeaderLength];
        Magic.CopyTo(header);
        header[VersionOffset] = CurrentVersion;
        destination.Write(header);
    }

    /// <summary>
    /// Reads every record of <paramref name="journal"/> (either version). <see cref="LeaseJournalContents.ValidLength"/>
    /// is where a torn tail begins (the journal's length when there is none).
    /// </summary>
    /// <exception cref="LeaseJournalException">A record with a valid checksum whose content is rejected, or an unknown version.</exception>
    public static LeaseJournalContents Read(ReadOnlySpan<byte> journal)
    {
        var leases = new List<DhcpLease>();
        if (journal.IsEmpty)
        {
            return new LeaseJournalContents(leases, CurrentVersion, 0, 0);
        }

        int version;
        int offset;
        if (journal.Length < HeaderLength && Magic.StartsWith(journal))
        {
            // A header torn while the journal was created: no record was ever written after it.
            return new LeaseJournalContents(leases, CurrentVersion, 0, journal.Length);
        }

        if (journal.StartsWith(Magic))
        {
            version = journal[VersionOffset];
            offset = HeaderLength;
            if (version != CurrentVersion)
            {
                throw new LeaseJournalException(VersionOffset, $"journal format version {version} is not known to this kldload (it reads 1 and {CurrentVersion})");
            }
        }
        else
        {
            version = 1;
            offset = 0;
        }

        while (offset < journal.Length)
        {
            var rest = journal[offset..];
            var status = version == 1
                ? LegacyLeaseRecordCodec.TryRead(rest, out var lease, out var consumed, out var rejection)
                : LeaseRecordCodec.TryRead(rest, out lease, out consumed, out rejection);
            if (status == LeaseRecordStatus.Torn)
            {
                break;
            }

            if (status == LeaseRecordStatus.Rejected)
            {
                throw new LeaseJournalException(offset, "the record's checksum is valid but " + rejection);
            }

            leases.Add(lease);
            offset += consumed;
        }

        return new LeaseJournalContents(leases, version, offset, journal.Length);
    }
}

/// <summary>The records of a journal, in order, and where its valid part ends.</summary>
internal sealed record LeaseJournalContents(IReadOnlyList<DhcpLease> Leases, int Version, long ValidLength, long Length)
{
    /// <summary>True when bytes after the last whole record (a torn tail) were found.</summary>
    public bool HasTornTail => ValidLength < Length;
}

/// <summary>
/// A journal record that was written whole (its checksum is valid) but cannot be accepted. Replay stops
/// here instead of truncating: every record after it was acknowledged to a client.
/// </summary>
public sealed class LeaseJournalException : Exception
{
    public LeaseJournalException(long offset, string reason)
        : this(null, offset, reason)
    {
    }

    public LeaseJournalException(string? path, long offset, string reason)
        : base($"{path ?? "lease journal"}: cannot replay past offset {offset}: {reason}. Replay stopped and nothing was truncated: "
            + "the records after it were acknowledged to clients. Keep the file for diagnosis.")
    {
        Path = path;
        Offset = offset;
        Reason = reason;
    }

    public LeaseJournalException()
        : this(null, 0, "unknown")
    {
    }

    public LeaseJournalException(string message)
        : base(message)
    {
        Reason = message;
    }

    public LeaseJournalException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = message;
    }

    /// <summary>The journal file, when known.</summary>
    public string? Path { get; }

    /// <summary>Byte offset of the rejected record from the start of the file.</summary>
    public long Offset { get; }

    /// <summary>Why the record was rejected.</summary>
    public string Reason { get; }
}
