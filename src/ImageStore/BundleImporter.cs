namespace Kldload.ImageStore;

/// <summary>
/// Imports a bundle: <see cref="BundleArchiveReader"/> stages its blobs while the archive streams by,
/// <see cref="BundleVerifier"/> checks the signature, every blob hash, every size and every manifest
/// reference, and only then <see cref="BundlePublisher"/> moves the blobs into the store and commits
/// the manifests (one transaction). Owns the staging directory: on any refusal it is removed and the
/// store is exactly as it was.
/// </summary>
public sealed class BundleImporter
{
    private readonly LiveImageStore _store;
    private readonly TrustedKeys _trusted;

    public BundleImporter(LiveImageStore store, TrustedKeys trusted)
    {
        _store = store;
        _trusted = trusted;
    }

    public async Task<BundleImportResult> ImportAsync(string path, string by, ITransferProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        if (!File.Exists(path))
        {
            throw new BundleException($"{path}: no such file");
        }

        var staging = Path.Combine(_store.StagingRoot, $"{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            var archive = await BundleArchiveReader.ReadAsync(path, staging, progress, cancellationToken).ConfigureAwait(false);
            var bundle = new BundleVerifier(_trusted).Verify(archive);
            return await new BundlePublisher(_store).PublishAsync(archive, bundle, staging, Path.GetFullPath(path), by, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }
}

/// <summary>What a bundle import did.</summary>
public sealed record BundleImportResult(IReadOnlyList<ImageManifest> Images, IReadOnlyList<ImageManifest> Added, string? Channel, string SignerId, int BlobsWritten);
