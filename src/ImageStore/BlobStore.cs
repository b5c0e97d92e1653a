using System.Buffers;
using System.Security.Cryptography;

namespace Kldload.ImageStore;

/// <summary>
/// Content-addressed files: each blob lives at <c>{root}/{sha256 hex}</c>. A blob is written to a
/// temporary file in the same directory, flushed to disk, checked against its digest and only then
/// renamed to its final name (and the directory flushed), so a crash at any point leaves either
/// nothing or the complete blob under that name. Temporary files start with <see cref="TempPrefix"/>
/// and are never mistaken for blobs.
/// </summary>
public sealed class BlobStore
{
    /// <summary>Name prefix of files being written; never a valid digest, so never served.</summary>
    public const string TempPrefix = ".partial-";

    private const int BufferSize = 1 << 20;

    public BlobStore(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
    }

    /// <summary>The blob directory.</summary>
    public string Root { get; }

    /// <summary>The path a blob has (whether or not it exists).</summary>
    public string PathOf(Sha256Digest digest) => Path.Combine(Root, digest.ToString());

    public bool Contains(Sha256Digest digest) => File.Exists(PathOf(digest));

    /// <summary>Size in bytes of a stored blob, or null when it is missing.</summary>
    public long? SizeOf(Sha256Digest digest)
    {
        var info = new FileInfo(PathOf(digest));
        return info.Exists ? info.Length : null;
    }

    /// <summary>Every stored blob (temporary files excluded).</summary>
    public IEnumerable<Sha256Digest> Enumerate()
    {
        foreach (var path in Directory.EnumerateFiles(Root))
        {
            if (Sha256Digest.TryParse(Path.GetFileName(path), out var digest))
            {
                yield return digest.Value;
            }
        }
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the store. When <paramref name="expected"/> is given and
    /// the content hashes to something else, nothing is stored and <see cref="BlobDigestMismatchException"/>
    /// is thrown. Content already present is not written twice.
    /// </summary>
    public async Task<StoredBlob> PutAsync(Stream source, Sha256Digest? expected = null, Action<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var temp = Path.Combine(Root, $"{TempPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var (digest, size) = await WriteTempAsync(source, temp, progress, cancellationToken).ConfigureAwait(false);
            if (expected is { } e && e != digest)
            {
                throw new BlobDigestMismatchException(e, digest);
            }

            var existed = Commit(temp, digest);
            return new StoredBlob(digest, size, existed);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Stores a file by copying it (the source is left as it is).</summary>
    public async Task<StoredBlob> PutFileAsync(string path, Action<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.SequentialScan | FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            return await PutAsync(stream, null, progress, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Moves an already written and flushed file (in a directory on the same file system) into the
    /// store under <paramref name="digest"/>, after hashing it once more. Used by bundle import,
    /// which stages blobs first and publishes them only once the whole bundle has been checked.
    /// </summary>
    public async Task<StoredBlob> AdoptAsync(string stagedPath, Sha256Digest digest, CancellationToken cancellationToken = default)
    {
        var (actual, size) = await HashFileAsync(stagedPath, cancellationToken).ConfigureAwait(false);
        if (actual != digest)
        {
            throw new BlobDigestMismatchException(digest, actual);
        }

        var temp = Path.Combine(Root, $"{TempPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        File.Move(stagedPath, temp);
        try
        {
            return new StoredBlob(digest, size, Commit(temp, digest));
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Re-hashes a stored blob; true when it still matches its name.</summary>
    public async Task<bool> VerifyAsync(Sha256Digest digest, CancellationToken cancellationToken = default)
    {
        var path = PathOf(digest);
        if (!File.Exists(path))
        {
            return false;
        }

        var (actual, _) = await HashFileAsync(path, cancellationToken).ConfigureAwait(false);
        return actual == digest;
    }

    /// <summary>Removes a blob. Returns false when it was not there.</summary>
    public bool Delete(Sha256Digest digest)
    {
        var path = PathOf(digest);
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        DirectorySync.Flush(Root);
        return true;
    }

    /// <summary>Temporary files left by a crashed writer and older than <paramref name="minimumAge"/>.</summary>
    public IEnumerable<FileInfo> FindAbandonedTempFiles(TimeSpan minimumAge, DateTimeOffset now)
        => new DirectoryInfo(Root).EnumerateFiles(TempPrefix + "*").Where(f => now - f.LastWriteTimeUtc >= minimumAge);

    /// <summary>SHA-256 and length of a file.</summary>
    public static async Task<(Sha256Digest Digest, long Size)> HashFileAsync(string path, CancellationToken cancellationToken = default)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.SequentialScan | FileOptions.Asynchronous);
        await using (stream.ConfigureAwait(false))
        {
            var hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
            return (Sha256Digest.FromHash(hash), stream.Length);
        }
    }

    /// <summary>Writes a stream to a new file, hashing on the way, and flushes it to disk.</summary>
    internal static async Task<(Sha256Digest Digest, long Size)> WriteTempAsync(Stream source, string path, Action<long>? progress, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        long total = 0;
        try
        {
            var target = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous);
            await using (target.ConfigureAwait(false))
            {
                int read;
                while ((read = await source.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    total += read;
                    progress?.Invoke(read);
                }

                // fsync: the content must be on disk before the rename can make it visible.
                target.Flush(flushToDisk: true);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return (Sha256Digest.FromHash(hash.GetHashAndReset()), total);
    }

    /// <summary>Renames a flushed temporary file to its digest name; true when the blob already existed.</summary>
    private bool Commit(string temp, Sha256Digest digest)
    {
        var final = PathOf(digest);
        if (File.Exists(final))
        {
            return true; // identical content is stored once; the caller deletes the temporary copy
        }

        try
        {
            File.Move(temp, final, overwrite: false);
        }
        catch (IOException) when (File.Exists(final))
        {
            return true; // another writer committed the same content first
        }

        DirectorySync.Flush(Root);
        return false;
    }
}

/// <summary>A blob as stored: its digest, size, and whether identical content was already there.</summary>
public sealed record StoredBlob(Sha256Digest Digest, long Size, bool AlreadyPresent);

/// <summary>Content did not hash to the digest it was stored under.</summary>
public sealed class BlobDigestMismatchException(Sha256Digest expected, Sha256Digest actual)
    : IOException($"blob {expected} does not match its content (content hashes to {actual})")
{
    public Sha256Digest Expected { get; } = expected;

    public Sha256Digest Actual { get; } = actual;
}
