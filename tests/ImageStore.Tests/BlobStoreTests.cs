using System.Security.Cryptography;

namespace Kldload.ImageStore.Tests;

public class BlobStoreTests
{
    [Fact]
    public async Task PutAsync_SameContentTwice_StoredOnce()
    {
        using var t = new TestStore();
        var data = RandomNumberGenerator.GetBytes(100_000);
        var a = await t.Store.Blobs.PutAsync(new MemoryStream(data));
        var b = await t.Store.Blobs.PutAsync(new MemoryStream(data));
        Assert.Equal(Sha256Digest.Of(data), a.Digest);
        Assert.False(a.AlreadyPresent);
        Assert.True(b.AlreadyPresent);
        Assert.Single(Directory.GetFiles(t.Store.Blobs.Root));
        Assert.Equal(data, await File.ReadAllBytesAsync(t.Store.Blobs.PathOf(a.Digest)));
    }

    [Fact]
    public async Task PutAsync_ExpectedDigestDiffers_NothingStored()
    {
        using var t = new TestStore();
        var wrong = Sha256Digest.Of([1]);
        var e = await Assert.ThrowsAsync<BlobDigestMismatchException>(() => t.Store.Blobs.PutAsync(new MemoryStream([2, 3]), wrong));
        Assert.Contains(wrong.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(t.Store.Blobs.Root));
    }

    [Fact]
    public async Task Enumerate_TempFilePresent_NotListed()
    {
        using var t = new TestStore();
        await File.WriteAllBytesAsync(Path.Combine(t.Store.Blobs.Root, BlobStore.TempPrefix + "1-abc"), [1, 2, 3]);
        var stored = await t.Store.Blobs.PutAsync(new MemoryStream([9]));
        Assert.Equal([stored.Digest], t.Store.Blobs.Enumerate().ToList());
    }

    [Fact]
    public async Task VerifyAsync_CorruptedBlob_False()
    {
        using var t = new TestStore();
        var stored = await t.Store.Blobs.PutAsync(new MemoryStream([1, 2, 3, 4]));
        Assert.True(await t.Store.Blobs.VerifyAsync(stored.Digest));
        await File.WriteAllBytesAsync(t.Store.Blobs.PathOf(stored.Digest), [1, 2, 3, 5]);
        Assert.False(await t.Store.Blobs.VerifyAsync(stored.Digest));
    }
}
