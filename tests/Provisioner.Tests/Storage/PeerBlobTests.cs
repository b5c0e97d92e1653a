using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Kldload.ImageStore;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// Two instances on one PostgreSQL catalogue, each with its own data directory: an image imported on
/// A is served by B, which fetches the blobs from A, checks their digests and keeps them.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class PeerBlobTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private TwoInstances _hosts = null!;

    public async Task InitializeAsync() => _hosts = await TwoInstances.StartAsync(postgres.CreateDatabase(), "kldload-peerblob-");

    public Task DisposeAsync() => _hosts.DisposeAsync().AsTask();

    private async Task<(ImageManifest Image, byte[] Kernel)> ImportOnAAsync(string version)
    {
        var src = Directory.CreateTempSubdirectory("kldload-peerblob-src-").FullName;
        try
        {
            var kernel = RandomNumberGenerator.GetBytes(200_000);
            await File.WriteAllBytesAsync(Path.Combine(src, "kernel"), kernel);
            await File.WriteAllBytesAsync(Path.Combine(src, "initrd"), RandomNumberGenerator.GetBytes(50_000));
            var result = await _hosts.A.Service<LiveImageStore>().ImportDirectoryAsync(src, new DirectoryImportOptions { Name = "live", Version = version }, "test");
            return (result.Images.Single(), kernel);
        }
        finally
        {
            Directory.Delete(src, recursive: true);
        }
    }

    [Fact]
    public async Task ImageImportedOnA_ServedByB_FetchedOnceVerifiedAndKept()
    {
        var (image, kernel) = await ImportOnAAsync("1");
        var blobsB = _hosts.B.Service<LiveImageStore>().Blobs;
        Assert.False(blobsB.Contains(image.Kernel));

        // Before A says it holds the blob, B has nowhere to fetch it from.
        var before = await _hosts.B.Http.GetAsync(new Uri("/images/live/1/kernel", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, before.StatusCode);

        _hosts.A.Service<BlobLocationPublisher>().PublishNow();
        var served = await _hosts.B.Http.GetByteArrayAsync(new Uri("/images/live/1/kernel", UriKind.Relative));
        Assert.Equal(kernel, served);
        Assert.True(blobsB.Contains(image.Kernel));
        Assert.True(await blobsB.VerifyAsync(image.Kernel));
        var fetcher = _hosts.B.Service<PeerBlobFetcher>();
        Assert.Equal(1, fetcher.Fetched);

        // The second request is served from B's own disk, and by digest too.
        Assert.Equal(kernel, await _hosts.B.Http.GetByteArrayAsync(new Uri($"/images/{image.Kernel}", UriKind.Relative)));
        Assert.Equal(1, fetcher.Fetched);

        // B now says it holds the blob, so a third instance could fetch it from B.
        var holders = _hosts.A.Service<IBlobLocations>().HoldersOf(image.Kernel, _hosts.A.Service<InstanceIdentity>().Name, TimeSpan.FromMinutes(1));
        Assert.Contains(holders, u => u.Port == new Uri(_hosts.B.Service<Kldload.Provisioner.Boot.ServerUrl>().ListenUrls[0]).Port);
    }

    [Fact]
    public async Task HolderServingOtherBytes_Refused_NothingStored_NextHolderUsed()
    {
        var (image, kernel) = await ImportOnAAsync("2");
        var locations = _hosts.B.Service<IBlobLocations>();
        using var liar = new LyingHolder(Encoding.ASCII.GetBytes(new string('x', 1000)));

        // Only the liar holds it: B refuses its bytes and serves nothing.
        locations.Add("liar", liar.Url, image.Kernel);
        var refused = await _hosts.B.Http.GetAsync(new Uri("/images/live/2/kernel", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.False(_hosts.B.Service<LiveImageStore>().Blobs.Contains(image.Kernel));
        Assert.True(_hosts.B.Service<PeerBlobFetcher>().Refused >= 1);
        Assert.True(liar.Requests >= 1);
        Assert.Empty(Directory.GetFiles(_hosts.B.Service<LiveImageStore>().Blobs.Root, BlobStore.TempPrefix + "*"));

        // With A recorded as well, B gets the true bytes.
        _hosts.A.Service<BlobLocationPublisher>().PublishNow();
        Assert.Equal(kernel, await _hosts.B.Http.GetByteArrayAsync(new Uri("/images/live/2/kernel", UriKind.Relative)));
    }

    [Fact]
    public async Task DigestNoImageNeeds_NeverFetched()
    {
        using var liar = new LyingHolder(Encoding.ASCII.GetBytes("anything"));
        var digest = Sha256Digest.Of(Encoding.ASCII.GetBytes("anything"));
        _hosts.B.Service<IBlobLocations>().Add("liar", liar.Url, digest);

        var response = await _hosts.B.Http.GetAsync(new Uri($"/images/{digest}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(0, liar.Requests);
        Assert.False(_hosts.B.Service<LiveImageStore>().Blobs.Contains(digest));
    }

    /// <summary>A holder on loopback that answers every request with the same bytes.</summary>
    private sealed class LyingHolder : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private int _requests;

        public LyingHolder(byte[] body)
        {
            _listener.Start();
            Url = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    Interlocked.Increment(ref _requests);
                    var stream = client.GetStream();
                    var buffer = new byte[4096];
                    _ = await stream.ReadAsync(buffer, _stop.Token);
                    var head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
                    await stream.WriteAsync(head, _stop.Token);
                    await stream.WriteAsync(body, _stop.Token);
                }
            });
        }

        public Uri Url { get; }

        public int Requests => Volatile.Read(ref _requests);

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }
    }
}
