namespace Kldload.ImageStore.Tests;

/// <summary>
/// The publisher alone: a verified bundle whose blobs are staged goes into the store, or is refused
/// with the store unchanged.
/// </summary>
public sealed class BundlePublisherTests : IDisposable
{
    private readonly TestStore _source = new();
    private readonly TestStore _target = new();
    private readonly string _staging;

    public BundlePublisherTests()
    {
        _staging = Path.Combine(_target.Store.StagingRoot, "publisher-test");
        Directory.CreateDirectory(_staging);
    }

    public void Dispose()
    {
        _source.Dispose();
        _target.Dispose();
    }

    /// <summary>Imports an image into the source store and stages its blobs as the reader would.</summary>
    private async Task<(ImageManifest Image, BundleArchive Archive)> StageAsync()
    {
        var m = (await _source.ImportAsync("live", "1")).Images[0];
        return (m, Stage(m));
    }

    private BundleArchive Stage(ImageManifest m)
    {
        var archive = new BundleArchive();
        foreach (var d in m.Blobs)
        {
            var staged = Path.Combine(_staging, d.ToString());
            File.Copy(_source.Store.Blobs.PathOf(d), staged, overwrite: true);
            archive.Blobs[d] = new FileInfo(staged).Length;
        }

        return archive;
    }

    private Task<BundleImportResult> PublishAsync(ImageManifest m, BundleArchive archive) =>
        new BundlePublisher(_target.Store).PublishAsync(archive, new VerifiedBundle([m], "stable", "key-1"), _staging, "/media/b.tar", "test", CancellationToken.None);

    [Fact]
    public async Task PublishAsync_NewImage_BlobsAdoptedAndManifestCommitted()
    {
        var (m, archive) = await StageAsync();

        var result = await PublishAsync(m, archive);

        Assert.Equal(2, result.BlobsWritten);
        Assert.True(Assert.Single(result.Added).SameContentAs(m));
        Assert.Equal(("stable", "key-1"), (result.Channel, result.SignerId));
        Assert.True(_target.Store.Catalog.Get(m.Key)!.SameContentAs(m));
        foreach (var d in m.Blobs)
        {
            Assert.Equal(await File.ReadAllBytesAsync(_source.Store.Blobs.PathOf(d)), await File.ReadAllBytesAsync(_target.Store.Blobs.PathOf(d)));
        }
    }

    [Fact]
    public async Task PublishAsync_SameImageAgain_NothingWrittenNothingAdded()
    {
        var (m, archive) = await StageAsync();
        await PublishAsync(m, archive);

        var result = await PublishAsync(m, Stage(m));

        Assert.Equal(0, result.BlobsWritten);
        Assert.Empty(result.Added);
    }

    [Fact]
    public async Task PublishAsync_KeyExistsWithOtherContent_RefusedStoreUnchanged()
    {
        var (first, archive) = await StageAsync();
        await PublishAsync(first, archive);
        using var other = new TestStore();
        var changed = (await other.ImportAsync("live", "1")).Images[0];
        Assert.Equal(first.Key, changed.Key);
        var before = _target.Snapshot();

        var e = await Assert.ThrowsAsync<BundleException>(() => PublishAsync(changed, new BundleArchive()));

        Assert.Contains($"image {first.Key} already exists here with different content", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, _target.Snapshot());
    }
}
