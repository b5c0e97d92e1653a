namespace Kldload.ImageStore.Tests;

public class GarbageCollectionTests
{
    [Fact]
    public async Task CollectGarbage_KeepsReferencedRemovesRest()
    {
        using var t = new TestStore([new FixedReferences(new ImageKey("pinned", "1"))]);
        var onChannel = (await t.ImportAsync("live", "1")).Images[0];
        var pinned = (await t.ImportAsync("pinned", "1")).Images[0];
        var deleted = (await t.ImportAsync("old", "1")).Images[0];
        t.Store.Catalog.Promote("stable", onChannel.Key, "x");
        t.Store.Catalog.Delete(deleted.Key, "x", t.Store.ReferenceSources);
        var orphan = await t.Store.Blobs.PutAsync(new MemoryStream([7, 7, 7]));

        var report = t.Store.CollectGarbage(dryRun: false, TimeSpan.Zero);

        var removed = report.Removed.Select(r => r.Digest).ToHashSet();
        Assert.Equal(new HashSet<Sha256Digest>([deleted.Kernel, deleted.Initrd, orphan.Digest]), removed);
        foreach (var d in onChannel.Blobs.Concat(pinned.Blobs))
        {
            Assert.True(t.Store.Blobs.Contains(d));
        }

        foreach (var d in removed)
        {
            Assert.False(t.Store.Blobs.Contains(d));
        }
    }

    [Fact]
    public async Task CollectGarbage_DryRun_RemovesNothing()
    {
        using var t = new TestStore();
        var orphan = await t.Store.Blobs.PutAsync(new MemoryStream([1]));
        var report = t.Store.CollectGarbage(dryRun: true, TimeSpan.Zero);
        Assert.Equal([orphan.Digest], report.Removed.Select(r => r.Digest).ToList());
        Assert.True(t.Store.Blobs.Contains(orphan.Digest));
    }

    [Fact]
    public async Task CollectGarbage_YoungOrphan_KeptUntilOldEnough()
    {
        // An import in another process may have written a blob and not yet committed its manifest.
        using var t = new TestStore();
        var orphan = await t.Store.Blobs.PutAsync(new MemoryStream([1, 2]));
        Assert.Empty(t.Store.CollectGarbage(dryRun: false, TimeSpan.FromMinutes(10)).Removed);
        File.SetLastWriteTimeUtc(t.Store.Blobs.PathOf(orphan.Digest), DateTime.UtcNow.AddHours(-1));
        Assert.Single(t.Store.CollectGarbage(dryRun: false, TimeSpan.FromMinutes(10)).Removed);
    }

    [Fact]
    public async Task VerifyAsync_CorruptBlob_ReportedWithImage()
    {
        using var t = new TestStore();
        var m = (await t.ImportAsync("live", "1")).Images[0];
        Assert.Empty(await t.Store.VerifyAsync());
        var path = t.Store.Blobs.PathOf(m.Initrd);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[100] ^= 0x40;
        await File.WriteAllBytesAsync(path, bytes);
        var problem = Assert.Single(await t.Store.VerifyAsync());
        Assert.Equal(m.Initrd, problem.Digest);
        Assert.Equal([m.Key], problem.Images);
        Assert.StartsWith("corrupt", problem.Problem, StringComparison.Ordinal);
    }
}
