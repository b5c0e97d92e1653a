using System.Collections.Concurrent;
using Kldload.ImageStore;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Api;

/// <summary>
/// Fetches a blob this instance lacks from another instance that holds it (instances sharing one
/// PostgreSQL catalogue; see <see cref="IBlobLocations"/>). Only blobs an image in the catalogue
/// needs are fetched, never more bytes than the image's manifest says, and the digest is checked
/// before the blob is stored: a holder serving other bytes is skipped and the next one tried. One
/// fetch per blob runs at a time; requests for the same blob wait for it.
/// </summary>
public sealed partial class PeerBlobFetcher : IDisposable
{
    /// <summary>Holders not seen for this long are not asked (an instance publishes every <see cref="BlobLocationPublisher.Interval"/>).</summary>
    public static readonly TimeSpan HolderMaxAge = TimeSpan.FromMinutes(5);

    private readonly LiveImageStore _store;
    private readonly IBlobLocations _locations;
    private readonly InstanceIdentity _identity;
    private readonly ServerUrl _serverUrl;
    private readonly ILogger<PeerBlobFetcher> _log;
    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<Sha256Digest, Lazy<Task<bool>>> _inFlight = new();
    private long _fetched;
    private long _refused;

    public PeerBlobFetcher(LiveImageStore store, IBlobLocations locations, InstanceIdentity identity, ServerUrl serverUrl, ILogger<PeerBlobFetcher> log)
    {
        _store = store;
        _locations = locations;
        _identity = identity;
        _serverUrl = serverUrl;
        _log = log;
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) }) { Timeout = TimeSpan.FromMinutes(30) };
    }

    /// <summary>Blobs fetched from other instances and stored.</summary>
    public long Fetched => Interlocked.Read(ref _fetched);

    /// <summary>Answers from other instances refused (wrong digest, too long, an error status).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>True when the blob is on this instance's disk now (already, or fetched and verified).</summary>
    public async Task<bool> TryFetchAsync(Sha256Digest digest, CancellationToken cancellationToken)
    {
        if (_store.Blobs.Contains(digest))
        {
            return true;
        }

        var fetch = _inFlight.GetOrAdd(digest, d => new Lazy<Task<bool>>(() => FetchAsync(d)));
        try
        {
            // The shared fetch is not cancelled by one waiter leaving.
            return await fetch.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (fetch.Value.IsCompleted)
            {
                _inFlight.TryRemove(new KeyValuePair<Sha256Digest, Lazy<Task<bool>>>(digest, fetch));
            }
        }
    }

    private async Task<bool> FetchAsync(Sha256Digest digest)
    {
        await Task.Yield();
        if (MaximumSize(digest) is not { } limit)
        {
            return false;
        }

        var holders = _locations.HoldersOf(digest, _identity.Name, HolderMaxAge);
        if (holders.Count == 0)
        {
            Log.NoHolder(_log, digest.ToString());
        }

        foreach (var holder in holders)
        {
            var url = new Uri(holder, $"images/{digest}");
            try
            {
                using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode || response.Content.Headers.ContentLength > limit)
                {
                    Interlocked.Increment(ref _refused);
                    Log.HolderRefused(_log, digest.ToString(), url.ToString(), $"HTTP {(int)response.StatusCode}, {response.Content.Headers.ContentLength} bytes (at most {limit})");
                    continue;
                }

                await using var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
                long read = 0;
                var stored = await _store.Blobs.PutAsync(body, digest, n =>
                {
                    read += n;
                    if (read > limit)
                    {
                        throw new InvalidDataException($"more than the {limit} bytes the manifest gives");
                    }
                }).ConfigureAwait(false);
                Interlocked.Increment(ref _fetched);
                _locations.Add(_identity.Name, _serverUrl.Value, digest);
                Log.Fetched(_log, digest.ToString(), stored.Size, url.ToString());
                return true;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or InvalidDataException or BlobDigestMismatchException or TaskCanceledException)
            {
                Interlocked.Increment(ref _refused);
                Log.HolderRefused(_log, digest.ToString(), url.ToString(), e.Message);
            }
        }

        return false;
    }

    /// <summary>The largest size an image in the catalogue gives this blob; null when no image needs it.</summary>
    private long? MaximumSize(Sha256Digest digest)
    {
        long? size = null;
        foreach (var m in _store.Catalog.List())
        {
            long? s = m.Kernel == digest ? m.KernelSize
                : m.Initrd == digest ? m.InitrdSize
                : m.Rootfs == digest ? m.RootfsSize
                : null;
            if (s is { } found && (size is null || found > size))
            {
                size = found;
            }
        }

        return size;
    }

    public void Dispose() => _http.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.ImageBlobFetched, Level = LogLevel.Information, Message = "blob {Digest} ({Bytes} bytes) fetched from {Url} and verified")]
        public static partial void Fetched(ILogger logger, string digest, long bytes, string url);

        [LoggerMessage(EventId = LogEvents.ImageBlobNoHolder, Level = LogLevel.Information, Message = "blob {Digest} is needed by an image but neither here nor recorded on another instance")]
        public static partial void NoHolder(ILogger logger, string digest);

        [LoggerMessage(EventId = LogEvents.ImageBlobFetchRefused, Level = LogLevel.Warning, Message = "blob {Digest} not taken from {Url}: {Problem}")]
        public static partial void HolderRefused(ILogger logger, string digest, string url, string problem);
    }
}

/// <summary>
/// Tells the other instances which blobs this one holds: at start, then every <see cref="Interval"/>
/// (a blob imported by the CLI beside a running server is announced on the next round). It starts once
/// the server listens, so the URL it records carries the bound port.
/// </summary>
public sealed partial class BlobLocationPublisher(
    LiveImageStore store, IBlobLocations locations, InstanceIdentity identity, ServerUrl serverUrl, IHostApplicationLifetime lifetime, ILogger<BlobLocationPublisher> log)
    : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(15);

    /// <summary>Publishes the blobs on disk now.</summary>
    public void PublishNow() => locations.Publish(identity.Name, serverUrl.Value, [.. store.Blobs.Enumerate()]);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled()))
        {
            try
            {
                await started.Task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                PublishNow();
                failing = false;
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or IOException or InvalidOperationException)
            {
                if (!failing)
                {
                    Log.PublishFailed(log, e.Message);
                }

                failing = true;
            }

            try
            {
                await Task.Delay(Interval, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.ImageBlobPublishFailed, Level = LogLevel.Warning, Message = "could not record which blobs this instance holds (other instances cannot fetch them from here until it can): {Problem}")]
        public static partial void PublishFailed(ILogger logger, string problem);
    }
}
