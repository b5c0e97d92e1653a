namespace Kldload.ImageStore;

/// <summary>Options of a directory import; null fields come from the directory's <c>manifest.json</c>.</summary>
public sealed record DirectoryImportOptions
{
    public string? Name { get; init; }

    public string? Version { get; init; }

    public string? Architecture { get; init; }

    public string? CommandLine { get; init; }

    public string? Notes { get; init; }
}

/// <summary>What an import did.</summary>
public sealed record ImportResult(IReadOnlyList<ImageManifest> Images, IReadOnlyList<ImageManifest> Added, int BlobsWritten, int BlobsAlreadyPresent, long Bytes);

/// <summary>One blob found wrong by <see cref="LiveImageStore.VerifyAsync"/>, with the images that need it.</summary>
public sealed record BlobProblem(Sha256Digest Digest, string Problem, IReadOnlyList<ImageKey> Images);

/// <summary>What garbage collection removed (or would remove) and kept.</summary>
public sealed record GarbageReport(IReadOnlyList<(Sha256Digest Digest, long Size)> Removed, int Kept, IReadOnlyList<string> TempFilesRemoved)
{
    public long BytesRemoved => Removed.Sum(r => r.Size);
}

/// <summary>
/// The image store: blobs on disk under <c>{root}/blobs</c>, the catalog in an <see cref="IImageCatalogStore"/>
/// (LiteDB or PostgreSQL) or another process's <see cref="IImageCatalog"/>. Imports publish
/// blobs first and manifests last, in one transaction, so an image is visible only when all of its
/// bytes are in place.
/// </summary>
public sealed class LiveImageStore
{
    private readonly IReadOnlyList<IImageReferenceSource> _sources;
    private readonly TimeProvider _time;

    /// <param name="root">The image directory, usually <c>{Kldload:DataDir}/images</c>.</param>
    /// <param name="catalogStore">Where this process keeps manifests and channels.</param>
    /// <param name="time">Clock for history records and GC ages.</param>
    /// <param name="sources">Holders of images that no channel names (pinned profiles, last-booted images).</param>
    public LiveImageStore(string root, IImageCatalogStore catalogStore, TimeProvider time, IEnumerable<IImageReferenceSource>? sources = null)
        : this(root, new ImageCatalog(catalogStore, time), time, sources)
    {
    }

    /// <param name="root">The image directory, usually <c>{Kldload:DataDir}/images</c>.</param>
    /// <param name="catalog">Where manifests and channels are kept (another process's, for the CLI beside a running server).</param>
    /// <param name="time">Clock for history records and GC ages.</param>
    /// <param name="sources">Holders of images that no channel names (pinned profiles, last-booted images).</param>
    public LiveImageStore(string root, IImageCatalog catalog, TimeProvider time, IEnumerable<IImageReferenceSource>? sources = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        Root = Path.GetFullPath(root);
        Blobs = new BlobStore(Path.Combine(Root, "blobs"));
        StagingRoot = Path.Combine(Root, "staging");
        Catalog = catalog;
        _time = time;
        _sources = sources?.ToList() ?? [];
    }

    public string Root { get; }

    public BlobStore Blobs { get; }

    public IImageCatalog Catalog { get; }

    /// <summary>Where bundle imports stage blobs before publishing (same file system as the blobs).</summary>
    public string StagingRoot { get; }

    /// <summary>The sources consulted by deletion and garbage collection.</summary>
    public IReadOnlyList<IImageReferenceSource> ReferenceSources => _sources;

    /// <summary>
    /// Imports a directory holding <c>kernel</c> (or one <c>vmlinuz*</c>), one <c>initrd*</c>,
    /// optionally one <c>rootfs*</c> and a <c>manifest.json</c>.
    /// </summary>
    public async Task<ImportResult> ImportDirectoryAsync(string directory, DirectoryImportOptions options, string by, ITransferProgress? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        progress ??= NoTransferProgress.Instance;
        if (!Directory.Exists(directory))
        {
            throw new ImageImportException($"{directory}: no such directory");
        }

        var files = Directory.EnumerateFiles(directory).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        var kernel = files.Contains("kernel") ? "kernel" : PickOne(directory, files, "vmlinuz", "kernel ('kernel' or 'vmlinuz*')", required: true);
        var initrd = PickOne(directory, files, "initrd", "initrd ('initrd*')", required: true);
        var rootfs = PickOne(directory, files, "rootfs", "rootfs ('rootfs*')", required: false);
        var fileManifest = files.Contains("manifest.json")
            ? ManifestJson.ReadDirectoryManifest(Path.Combine(directory, "manifest.json"))
            : new ManifestJson.DirectoryManifest(null, null, null, null, null);

        var name = options.Name ?? fileManifest.Name;
        var version = options.Version ?? fileManifest.Version;
        if (name is null || version is null)
        {
            throw new ImageImportException($"{directory}: image name and version are needed (--name/--version or \"name\"/\"version\" in manifest.json)");
        }

        if (ImageKey.Validate(name, version) is { } problem)
        {
            throw new ImageImportException(problem);
        }

        var arch = options.Architecture ?? fileManifest.Architecture ?? "x86_64";
        if (!ImageKey.IsValidPart(arch))
        {
            throw new ImageImportException($"architecture '{arch}' is not valid");
        }

        var key = new ImageKey(name, version);
        if (Catalog.Get(key) is { } existing)
        {
            throw new ImageImportException($"image {key} already exists (imported {existing.Created:u}); image versions are immutable, choose a new version");
        }

        var paths = new[] { kernel, initrd, rootfs }.OfType<string>().Select(f => Path.Combine(directory, f!)).ToList();
        var total = paths.Sum(p => new FileInfo(p).Length);
        progress.Start($"importing {key}", total);
        var stored = new List<StoredBlob>();
        try
        {
            foreach (var path in paths)
            {
                stored.Add(await Blobs.PutFileAsync(path, progress.Advance, cancellationToken).ConfigureAwait(false));
            }
        }
        finally
        {
            progress.Finish();
        }

        foreach (var s in stored.Where(s => s.AlreadyPresent))
        {
            // A re-used blob is fresh again: garbage collection spares young blobs until their manifest lands.
            File.SetLastWriteTimeUtc(Blobs.PathOf(s.Digest), _time.GetUtcNow().UtcDateTime);
        }

        PeAuthenticode.TryComputeSha256(Blobs.PathOf(stored[0].Digest), out var authenticode, out _);
        var manifest = new ImageManifest
        {
            Name = name,
            Version = version,
            Architecture = arch,
            Kernel = stored[0].Digest,
            KernelSize = stored[0].Size,
            Initrd = stored[1].Digest,
            InitrdSize = stored[1].Size,
            Rootfs = rootfs is null ? null : stored[2].Digest,
            RootfsSize = rootfs is null ? null : stored[2].Size,
            CommandLine = options.CommandLine ?? fileManifest.CommandLine ?? string.Empty,
            Notes = options.Notes ?? fileManifest.Notes ?? string.Empty,
            Created = _time.GetUtcNow(),
            KernelAuthenticode = authenticode,
        };
        var added = Catalog.Add([manifest], by, $"directory {Path.GetFullPath(directory)}");
        return new ImportResult([manifest], added, stored.Count(s => !s.AlreadyPresent), stored.Count(s => s.AlreadyPresent), total);
    }

    /// <summary>Imports a signed bundle; see <see cref="BundleImporter"/>. Nothing is published unless every check passes.</summary>
    public Task<BundleImportResult> ImportBundleAsync(string path, TrustedKeys trusted, string by, ITransferProgress? progress = null, CancellationToken cancellationToken = default)
        => new BundleImporter(this, trusted).ImportAsync(path, by, progress ?? NoTransferProgress.Instance, cancellationToken);

    /// <summary>Writes a bundle holding <paramref name="images"/> (and the channel name, when exporting a channel).</summary>
    public Task ExportAsync(IReadOnlyList<ImageManifest> images, string output, BundleSigningKey? key, string? channel, ITransferProgress? progress = null, CancellationToken cancellationToken = default)
        => BundleWriter.WriteAsync(this, images, output, key, channel, _time.GetUtcNow(), progress ?? NoTransferProgress.Instance, cancellationToken);

    /// <summary>Images that must keep their blobs: every manifest, every channel target (current and rollback), every reference source.</summary>
    public IReadOnlyDictionary<Sha256Digest, List<ImageKey>> ReferencedBlobs()
    {
        var used = new Dictionary<Sha256Digest, List<ImageKey>>();
        var manifests = Catalog.List().ToDictionary(m => m.Key);
        var keys = new HashSet<ImageKey>(manifests.Keys);
        foreach (var c in Catalog.ListChannels())
        {
            keys.Add(c.Current);
            keys.UnionWith(c.Previous);
        }

        foreach (var s in _sources)
        {
            keys.UnionWith(s.GetReferencedImages());
        }

        foreach (var k in keys)
        {
            if (!manifests.TryGetValue(k, out var m))
            {
                continue;
            }

            foreach (var b in m.Blobs)
            {
                if (!used.TryGetValue(b, out var list))
                {
                    used[b] = list = [];
                }

                list.Add(k);
            }
        }

        return used;
    }

    /// <summary>
    /// Removes blobs no image needs. Blobs younger than <paramref name="minimumAge"/> are spared: an
    /// import in another process may have written them and not yet committed its manifest.
    /// Abandoned temporary files and staging directories older than a day are removed too.
    /// </summary>
    public GarbageReport CollectGarbage(bool dryRun, TimeSpan minimumAge)
    {
        var used = ReferencedBlobs();
        var now = _time.GetUtcNow();
        var removed = new List<(Sha256Digest, long)>();
        var kept = 0;
        foreach (var digest in Blobs.Enumerate().ToList())
        {
            var info = new FileInfo(Blobs.PathOf(digest));
            if (used.ContainsKey(digest) || now - info.LastWriteTimeUtc < minimumAge)
            {
                kept++;
                continue;
            }

            removed.Add((digest, info.Length));
            if (!dryRun)
            {
                Blobs.Delete(digest);
            }
        }

        var temps = new List<string>();
        foreach (var f in Blobs.FindAbandonedTempFiles(TimeSpan.FromDays(1), now))
        {
            temps.Add(f.FullName);
            if (!dryRun)
            {
                f.Delete();
            }
        }

        if (Directory.Exists(StagingRoot))
        {
            foreach (var d in new DirectoryInfo(StagingRoot).EnumerateDirectories().Where(d => now - d.LastWriteTimeUtc >= TimeSpan.FromDays(1)))
            {
                temps.Add(d.FullName);
                if (!dryRun)
                {
                    d.Delete(recursive: true);
                }
            }
        }

        return new GarbageReport(removed, kept, temps);
    }

    /// <summary>Re-hashes every blob an image needs; lists the missing and corrupt ones with the images affected.</summary>
    public async Task<IReadOnlyList<BlobProblem>> VerifyAsync(ITransferProgress? progress = null, CancellationToken cancellationToken = default)
    {
        progress ??= NoTransferProgress.Instance;
        var used = ReferencedBlobs();
        var problems = new List<BlobProblem>();
        progress.Start("verifying blobs", used.Keys.Sum(d => Blobs.SizeOf(d) ?? 0));
        try
        {
            foreach (var (digest, images) in used.OrderBy(u => u.Key.ToString(), StringComparer.Ordinal))
            {
                var size = Blobs.SizeOf(digest);
                if (size is null)
                {
                    problems.Add(new BlobProblem(digest, "missing", images));
                    continue;
                }

                var (actual, _) = await BlobStore.HashFileAsync(Blobs.PathOf(digest), cancellationToken).ConfigureAwait(false);
                progress.Advance(size.Value);
                if (actual != digest)
                {
                    problems.Add(new BlobProblem(digest, $"corrupt (content hashes to {actual})", images));
                }
            }
        }
        finally
        {
            progress.Finish();
        }

        return problems;
    }

    private static string? PickOne(string directory, List<string> files, string prefix, string what, bool required)
    {
        var found = files.Where(f => f.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        return found.Count switch
        {
            1 => found[0],
            0 when !required => null,
            0 => throw new ImageImportException($"{directory}: no {what} file"),
            _ => throw new ImageImportException($"{directory}: several {what} files ({string.Join(", ", found)}); keep one"),
        };
    }
}

/// <summary>An import was refused; the message names what is wrong in one line.</summary>
public sealed class ImageImportException(string message) : Exception(message);
