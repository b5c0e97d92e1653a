using System.Collections.Concurrent;

namespace Kldload.ImageStore;

/// <summary>Outcome of checking a blob before serving it.</summary>
public enum BlobCheck : byte
{
    Ok = 0,
    Missing = 1,
    Corrupt = 2,
}

/// <summary>
/// Re-hashes a blob the first time this process serves it and again after its size or modification
/// time changes; the verdict is cached against (size, mtime). Concurrent first requests for one
/// blob share a single hash computation.
/// </summary>
public sealed class ImageBlobVerifier
{
    private readonly ConcurrentDictionary<Sha256Digest, Entry> _verdicts = new();

    /// <summary>How many hash computations ran (for tests and metrics).</summary>
    public int Verifications => _verifications;

    private int _verifications;

    public async Task<BlobCheck> CheckAsync(Sha256Digest digest, string path, CancellationToken cancellationToken)
    {
        while (true)
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return BlobCheck.Missing;
            }

            var stamp = (info.Length, info.LastWriteTimeUtc.Ticks);
            if (_verdicts.TryGetValue(digest, out var known) && known.Stamp == stamp)
            {
                return await known.Verdict.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            var fresh = new Entry(stamp, new Lazy<Task<BlobCheck>>(() => HashAsync(digest, path)));
            var installed = known is null ? _verdicts.TryAdd(digest, fresh) : _verdicts.TryUpdate(digest, fresh, known);
            if (installed)
            {
                return await fresh.Verdict.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<BlobCheck> HashAsync(Sha256Digest digest, string path)
    {
        Interlocked.Increment(ref _verifications);
        try
        {
            // Not cancelled by one request: other requests may be waiting for the same verdict.
            var (actual, _) = await BlobStore.HashFileAsync(path, CancellationToken.None).ConfigureAwait(false);
            return actual == digest ? BlobCheck.Ok : BlobCheck.Corrupt;
        }
        catch (FileNotFoundException)
        {
            _verdicts.TryRemove(digest, out _);
            return BlobCheck.Missing;
        }
    }

    private sealed record Entry((long Length, long Ticks) Stamp, Lazy<Task<BlobCheck>> Verdict);
}
