using System.Security.Cryptography;

namespace Kldload.ImageStore.Tests;

public sealed class ImageBlobVerifierTests : IDisposable
{
    private readonly TestStore _t = new();

    public void Dispose() => _t.Dispose();

    [Fact]
    public async Task CheckAsync_ConcurrentFirstServes_HashOnceThenCached()
    {
        var blob = await _t.Store.Blobs.PutAsync(new MemoryStream(RandomNumberGenerator.GetBytes(1 << 20)));
        var verifier = new ImageBlobVerifier();
        var path = _t.Store.Blobs.PathOf(blob.Digest);
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => verifier.CheckAsync(blob.Digest, path, CancellationToken.None)));
        Assert.All(results, r => Assert.Equal(BlobCheck.Ok, r));
        Assert.Equal(BlobCheck.Ok, await verifier.CheckAsync(blob.Digest, path, CancellationToken.None));
        Assert.Equal(1, verifier.Verifications);
    }

    [Fact]
    public async Task CheckAsync_ContentChangedWithNewMtime_CorruptAndRehashed()
    {
        var data = RandomNumberGenerator.GetBytes(4096);
        var blob = await _t.Store.Blobs.PutAsync(new MemoryStream(data));
        var verifier = new ImageBlobVerifier();
        var path = _t.Store.Blobs.PathOf(blob.Digest);
        Assert.Equal(BlobCheck.Ok, await verifier.CheckAsync(blob.Digest, path, CancellationToken.None));
        data[7] ^= 1;
        await File.WriteAllBytesAsync(path, data);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(5));
        Assert.Equal(BlobCheck.Corrupt, await verifier.CheckAsync(blob.Digest, path, CancellationToken.None));
        Assert.Equal(2, verifier.Verifications);
        File.Delete(path);
        Assert.Equal(BlobCheck.Missing, await verifier.CheckAsync(blob.Digest, path, CancellationToken.None));
    }
}
