namespace Kldload.ImageStore.Tests;

public class ImageCatalogTests
{
    [Fact]
    public async Task Rollback_AfterPromote_ResolvesPreviousInOneStepAndHistoryShowsBoth()
    {
        using var t = new TestStore();
        var v1 = (await t.ImportAsync("live", "1")).Images[0];
        var v2 = (await t.ImportAsync("live", "2")).Images[0];
        t.Store.Catalog.Promote("stable", v1.Key, "alice");
        t.Store.Catalog.Promote("stable", v2.Key, "bob");
        Assert.Equal(v2.Kernel, t.Store.Catalog.Resolve("stable")!.Kernel);

        var change = t.Store.Catalog.Rollback("stable", "carol");

        var now = t.Store.Catalog.Resolve("stable")!;
        Assert.Equal(v1.Kernel, now.Kernel);
        Assert.Equal(v1.Initrd, now.Initrd);
        Assert.Equal(new ImageKey("live", "2"), change.From);
        var history = t.Store.Catalog.GetChannelHistory("stable");
        Assert.Equal(
            ["Promote -> live/1 by alice", "Promote live/1 -> live/2 by bob", "Rollback live/2 -> live/1 by carol"],
            history.Select(h => $"{h.Action} {(h.From is null ? string.Empty : h.From + " ")}-> {h.To} by {h.By}").ToList());
    }

    [Fact]
    public async Task Rollback_NoPreviousVersion_RefusedWithReason()
    {
        using var t = new TestStore();
        var v1 = (await t.ImportAsync("live", "1")).Images[0];
        t.Store.Catalog.Promote("stable", v1.Key, "alice");
        var e = Assert.Throws<ImageCatalogException>(() => t.Store.Catalog.Rollback("stable", "bob"));
        Assert.Contains("no previous version", e.Message, StringComparison.Ordinal);
        Assert.Equal(v1.Key, t.Store.Catalog.GetChannel("stable")!.Current);
    }

    [Fact]
    public async Task Rollback_Twice_WalksBackThroughPromotions()
    {
        using var t = new TestStore();
        foreach (var v in new[] { "1", "2", "3" })
        {
            await t.ImportAsync("live", v);
            t.Store.Catalog.Promote("canary", new ImageKey("live", v), "ci");
        }

        t.Store.Catalog.Rollback("canary", "ops");
        t.Store.Catalog.Rollback("canary", "ops");
        Assert.Equal("1", t.Store.Catalog.Resolve("canary")!.Version);
    }

    [Fact]
    public async Task Add_SameKeyDifferentContent_Refused()
    {
        using var t = new TestStore();
        var v1 = (await t.ImportAsync("live", "1")).Images[0];
        var other = v1 with { Kernel = Sha256Digest.Of([1]) };
        var e = Assert.Throws<ImageCatalogException>(() => t.Store.Catalog.Add([other], "x", "test"));
        Assert.Contains("different content", e.Message, StringComparison.Ordinal);
        Assert.Equal(v1.Kernel, t.Store.Catalog.Get(v1.Key)!.Kernel);
    }

    [Fact]
    public async Task ImportDirectory_ExistingVersion_Refused()
    {
        using var t = new TestStore();
        await t.ImportAsync("live", "1");
        var e = await Assert.ThrowsAsync<ImageImportException>(() => t.ImportAsync("live", "1"));
        Assert.Contains("already exists", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportDirectory_ManifestFileAndNonPeKernel_RecordedWithoutAuthenticode()
    {
        using var t = new TestStore();
        var dir = t.MakeImageDir("x", rootfs: true);
        await File.WriteAllTextAsync(Path.Combine(dir, "manifest.json"), """{ "name": "debian-live", "version": "13.1", "cmdline": "console=ttyS0", "notes": "ci 42" }""");
        var result = await t.Store.ImportDirectoryAsync(dir, new DirectoryImportOptions(), "test");
        var m = t.Store.Catalog.Get(new ImageKey("debian-live", "13.1"))!;
        Assert.Equal("x86_64", m.Architecture);
        Assert.Equal("console=ttyS0", m.CommandLine);
        Assert.Equal("ci 42", m.Notes);
        Assert.Null(m.KernelAuthenticode);
        Assert.NotNull(m.Rootfs);
        Assert.Equal(Sha256Digest.Of(await File.ReadAllBytesAsync(Path.Combine(dir, "vmlinuz-6.12"))), m.Kernel);
        Assert.Equal(3, result.BlobsWritten);
    }

    [Fact]
    public async Task ImportDirectory_PeKernel_RecordsAuthenticode()
    {
        using var t = new TestStore();
        var efi = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "TestData", "snponly.signed.efi"));
        var dir = t.MakeImageDir("efi", kernel: efi);
        var m = (await t.ImportAsync("efi", "1", dir)).Images[0];
        Assert.Equal(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "snponly.signed.efi.authenticode-sha256")).Trim(), m.KernelAuthenticode.ToString());
    }

    [Fact]
    public async Task ImportDirectory_IdenticalFilesInTwoImages_BlobsStoredOnce()
    {
        using var t = new TestStore();
        var dir = t.MakeImageDir("a");
        var first = await t.ImportAsync("a", "1", dir);
        var second = await t.ImportAsync("a", "2", dir);
        Assert.Equal(2, first.BlobsWritten);
        Assert.Equal(0, second.BlobsWritten);
        Assert.Equal(2, second.BlobsAlreadyPresent);
        Assert.Equal(2, t.Store.Blobs.Enumerate().Count());
    }

    [Fact]
    public async Task Delete_ImageOnChannelOrPinned_Refused()
    {
        var pinned = new FixedReferences(new ImageKey("live", "2"));
        using var t = new TestStore([pinned]);
        await t.ImportAsync("live", "1");
        await t.ImportAsync("live", "2");
        t.Store.Catalog.Promote("stable", new ImageKey("live", "1"), "x");
        Assert.Contains("channel stable", Assert.Throws<ImageCatalogException>(() => t.Store.Catalog.Delete(new ImageKey("live", "1"), "x", t.Store.ReferenceSources)).Message, StringComparison.Ordinal);
        Assert.Contains("pinned profiles", Assert.Throws<ImageCatalogException>(() => t.Store.Catalog.Delete(new ImageKey("live", "2"), "x", t.Store.ReferenceSources)).Message, StringComparison.Ordinal);
    }
}
