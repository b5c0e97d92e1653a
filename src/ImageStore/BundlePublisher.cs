namespace Kldload.ImageStore;

/// <summary>
/// Owns putting a verified bundle into the store: it refuses an image that exists here with other
/// content, then moves each staged blob into the <see cref="BlobStore"/> (re-hashed as it is adopted)
/// and commits the manifests to the catalog in one transaction. It checks nothing about the bundle
/// itself: that is <see cref="BundleVerifier"/>'s, and it must have passed.
/// </summary>
internal sealed class BundlePublisher(LiveImageStore store)
{
    /// <summary>
    /// Publishes <paramref name="bundle"/>, whose blobs (<paramref name="archive"/>) are staged in
    /// <paramref name="staging"/>. <paramref name="source"/> names the bundle in the catalog's history.
    /// </summary>
    public async Task<BundleImportResult> PublishAsync(BundleArchive archive, VerifiedBundle bundle, string staging, string source, string by, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(archive);
        ArgumentNullException.ThrowIfNull(bundle);
        foreach (var m in bundle.Images)
        {
            if (store.Catalog.Get(m.Key) is { } existing && !existing.SameContentAs(m))
            {
                throw new BundleException($"image {m.Key} already exists here with different content; nothing imported");
            }
        }

        // Blobs first, then manifests: a manifest is never visible before its blobs.
        var written = 0;
        foreach (var (digest, _) in archive.Blobs)
        {
            var stored = await store.Blobs.AdoptAsync(Path.Combine(staging, digest.ToString()), digest, cancellationToken).ConfigureAwait(false);
            if (stored.AlreadyPresent)
            {
                File.SetLastWriteTimeUtc(store.Blobs.PathOf(digest), DateTime.UtcNow);
            }
            else
            {
                written++;
            }
        }

        var added = store.Catalog.Add(bundle.Images, by, $"bundle {source} signed by {bundle.SignerId}");
        return new BundleImportResult(bundle.Images, added, bundle.Channel, bundle.SignerId, written);
    }
}
