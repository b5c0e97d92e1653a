using System.Formats.Tar;
using System.IO.Compression;
using ZstdSharp;

namespace Kldload.ImageStore;

/// <summary>
/// Owns reading a bundle file (see <see cref="BundleFormat"/>): decompression chosen by magic number,
/// the tar entries and their names, staging each blob under its digest with its hash checked as it
/// streams by, and the checks that nothing was added to the file (zeros after the end-of-archive
/// marker; for an uncompressed bundle, the header checksums and padding). It trusts nothing it reads:
/// the signature and the index are <see cref="BundleVerifier"/>'s.
/// </summary>
internal static class BundleArchiveReader
{
    private const int MaxIndexBytes = 16 << 20;
    private const int MaxSignatureBytes = 64 << 10;

    /// <summary>
    /// Reads the bundle at <paramref name="path"/>, staging each blob in <paramref name="staging"/> under
    /// its digest. Throws <see cref="BundleException"/> for a damaged or malformed archive.
    /// </summary>
    public static async Task<BundleArchive> ReadAsync(string path, string staging, ITransferProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var content = new BundleArchive();
        var dataRanges = new List<(long Offset, long Length)>();
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
        progress.Start($"reading bundle {Path.GetFileName(path)}", file.Length);
        try
        {
            var head = new byte[4];
            var n = await file.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            file.Position = 0;
            var counted = new ProgressStream(file, progress, ownsInner: true);
            Stream archive = BundleFormat.FromMagic(head.AsSpan(0, n)) switch
            {
                BundleFormat.Compression.Gzip => new GZipStream(counted, CompressionMode.Decompress),
                BundleFormat.Compression.Zstd => new DecompressionStream(counted),
                _ => counted,
            };
            await using (archive.ConfigureAwait(false))
            {
                var tar = new TarReader(archive, leaveOpen: true);
                await using (tar.ConfigureAwait(false))
                {
                    while (await tar.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
                    {
                        await ReadEntryAsync(entry, content, dataRanges, staging, cancellationToken).ConfigureAwait(false);
                    }
                }

                // Read to the very end: this checks the gzip CRC or zstd checksum over the whole
                // file, and that nothing but tar's zero padding follows the end-of-archive marker.
                await RequireZeroTailAsync(archive, cancellationToken).ConfigureAwait(false);
            }

            if (ReferenceEquals(archive, counted))
            {
                await CheckUncompressedLayoutAsync(path, dataRanges, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or ZstdException or EndOfStreamException
            || (e is IOException && e is not BlobDigestMismatchException))
        {
            throw new BundleException($"{path}: damaged archive ({e.Message.TrimEnd('.')}); nothing imported", e);
        }
        finally
        {
            progress.Finish();
        }

        return content;
    }

    /// <summary>
    /// For an uncompressed bundle, where no checksum covers the whole file, checks the layout byte
    /// for byte: entries follow each other with one header block each (as export writes them),
    /// every header's checksum (POSIX ustar: sum of the 512 header bytes with the checksum field
    /// read as spaces, in octal at offset 148) is right, and all padding and the end is zeros.
    /// </summary>
    private static async Task CheckUncompressedLayoutAsync(string path, List<(long Offset, long Length)> ranges, CancellationToken cancellationToken)
    {
        const int Block = 512;
        const int ChecksumOffset = 148;
        const int ChecksumLength = 8;
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.RandomAccess | FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            var header = new byte[Block];
            long expected = 0;
            foreach (var (offset, length) in ranges)
            {
                if (offset - Block != expected)
                {
                    throw new BundleException($"unexpected tar layout at offset {expected} (extra or missing headers; bundles are written by 'kldload image export'); nothing imported");
                }

                file.Position = expected;
                await file.ReadExactlyAsync(header, cancellationToken).ConfigureAwait(false);
                var field = System.Text.Encoding.ASCII.GetString(header, ChecksumOffset, ChecksumLength).Trim(' ', '\0');
                long sum = 0;
                for (var i = 0; i < Block; i++)
                {
                    sum += i is >= ChecksumOffset and < ChecksumOffset + ChecksumLength ? (byte)' ' : header[i];
                }

                if (field.Length == 0 || !field.All(c => c is >= '0' and <= '7') || Convert.ToInt64(field, 8) != sum)
                {
                    throw new BundleException($"tar header at offset {expected} fails its checksum (altered bundle); nothing imported");
                }

                expected = offset + ((length + Block - 1) / Block * Block);
                await RequireZerosAsync(file, offset + length, expected, cancellationToken).ConfigureAwait(false);
            }

            await RequireZerosAsync(file, expected, file.Length, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task RequireZerosAsync(FileStream file, long from, long to, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        file.Position = from;
        while (from < to)
        {
            var n = (int)Math.Min(buffer.Length, to - from);
            await file.ReadExactlyAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                throw new BundleException($"non-zero bytes in tar padding near offset {from} (altered bundle); nothing imported");
            }

            from += n;
        }
    }

    private static async Task RequireZeroTailAsync(Stream archive, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        int n;
        while ((n = await archive.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                throw new BundleException("data follows the end of the tar archive (altered or concatenated bundle); nothing imported");
            }
        }
    }

    private static async Task ReadEntryAsync(TarEntry entry, BundleArchive content, List<(long Offset, long Length)> dataRanges, string staging, CancellationToken cancellationToken)
    {
        if (entry.DataOffset >= 0)
        {
            dataRanges.Add((entry.DataOffset, entry.Length));
        }

        var name = entry.Name;
        if (name.StartsWith("./", StringComparison.Ordinal))
        {
            name = name[2..];
        }

        if (name.StartsWith('/') || name.Contains('\\', StringComparison.Ordinal) || name.Split('/').Any(p => p == "..") || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new BundleException($"entry '{entry.Name}' escapes the archive root; nothing imported");
        }

        if (entry.EntryType == TarEntryType.Directory && name is "" or "blobs" or "blobs/")
        {
            return;
        }

        if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
        {
            throw new BundleException($"entry '{entry.Name}' is a {entry.EntryType}, bundles hold regular files only; nothing imported");
        }

        switch (name)
        {
            case BundleFormat.IndexEntry:
                content.Index = content.Index is null
                    ? await ReadSmallAsync(entry, MaxIndexBytes, cancellationToken).ConfigureAwait(false)
                    : throw new BundleException($"{BundleFormat.IndexEntry} appears twice; nothing imported");
                return;
            case BundleFormat.SignatureEntry:
                content.Signature = content.Signature is null
                    ? await ReadSmallAsync(entry, MaxSignatureBytes, cancellationToken).ConfigureAwait(false)
                    : throw new BundleException($"{BundleFormat.SignatureEntry} appears twice; nothing imported");
                return;
        }

        if (!name.StartsWith(BundleFormat.BlobPrefix, StringComparison.Ordinal) || !Sha256Digest.TryParse(name[BundleFormat.BlobPrefix.Length..], out var digest))
        {
            throw new BundleException($"unexpected entry '{entry.Name}' (a bundle holds bundle.json, bundle.sig and blobs/SHA256); nothing imported");
        }

        if (content.Blobs.ContainsKey(digest.Value))
        {
            throw new BundleException($"blob {digest} appears twice; nothing imported");
        }

        var target = Path.Combine(staging, digest.Value.ToString());
        var (actual, size) = await BlobStore.WriteTempAsync(entry.DataStream ?? Stream.Null, target, null, cancellationToken).ConfigureAwait(false);
        if (actual != digest.Value)
        {
            throw new BundleException($"blob {digest} does not match its content (hashes to {actual}): the bundle was altered; nothing imported");
        }

        content.Blobs[digest.Value] = size;
    }

    private static async Task<byte[]> ReadSmallAsync(TarEntry entry, int limit, CancellationToken cancellationToken)
    {
        if (entry.Length > limit)
        {
            throw new BundleException($"{entry.Name} is {entry.Length} bytes, more than {limit}; nothing imported");
        }

        var bytes = new byte[entry.Length];
        if (entry.DataStream is { } s)
        {
            await s.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
        }

        return bytes;
    }
}

/// <summary>
/// What a bundle file holds, as read: the bytes of the index and of its signature, and the size of
/// each blob staged. Nothing in it is trusted until <see cref="BundleVerifier"/> says so.
/// </summary>
internal sealed class BundleArchive
{
    /// <summary>The exact bytes of <c>bundle.json</c>, or null when the bundle has none.</summary>
    public byte[]? Index { get; set; }

    /// <summary>The exact bytes of <c>bundle.sig</c>, or null when the bundle has none.</summary>
    public byte[]? Signature { get; set; }

    /// <summary>The size of each blob staged, by digest (its content hashes to it).</summary>
    public Dictionary<Sha256Digest, long> Blobs { get; } = [];
}
