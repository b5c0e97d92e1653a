using System.Formats.Tar;
using System.Security.Cryptography;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Server;
using Kldload.ImageStore;
using LiteDB;
using JsonSerializer = System.Text.Json.JsonSerializer;

namespace Kldload.Provisioner.Backup;

/// <summary>Where a backup reads the provisioner's state from: a running service or a stopped data directory.</summary>
public sealed class BackupSource
{
    /// <summary>
    /// kldload.db, the server's own handle when it takes the backup (read in one transaction while it
    /// writes); null when the state is in PostgreSQL (the backup then holds the instance's files only).
    /// </summary>
    public required ILiteDatabase? Database { get; init; }

    /// <summary>The durable DHCP leases now, or null when there are none to keep.</summary>
    public required Func<IReadOnlyList<DhcpLease>?> Leases { get; init; }

    /// <summary>The durable DHCPv6 leases now, or null when there are none to keep.</summary>
    public Func<IReadOnlyList<Kldload.Dhcp.Dhcp6.Server.Dhcp6Lease>?> Leases6 { get; init; } = () => null;

    public required string DataDir { get; init; }

    public required string AdminTokenFile { get; init; }

    /// <summary>
    /// <c>Mesh:CaKeyFile</c>, which opens the mesh CA sealed in PostgreSQL. Under the CA directory by
    /// default (backed up with it); kept apart as <c>auth/mesh-ca.key</c> when set elsewhere.
    /// </summary>
    public string? MeshCaKeyFile { get; init; }

    /// <summary>The image store root (<c>{DataDir}/images</c>); blobs are under <c>blobs/</c>.</summary>
    public required string ImagesRoot { get; init; }

    public required string TrustedKeysDir { get; init; }

    /// <summary>The settings in force (every key of kldload's sections), stored for the operator.</summary>
    public required IReadOnlyDictionary<string, string?> Settings { get; init; }
}

/// <summary>
/// Writes one backup as a tar stream (to be encrypted by the caller): kldload.db collection by
/// collection as BSON, read inside one LiteDB transaction; the DHCP and DHCPv6 leases in their journal formats;
/// the mesh CA directory; the admin token and the BMC password key; the settings in force; and, unless left out, the image
/// blobs and trusted bundle keys. <c>MANIFEST.json</c> comes last with every file's SHA-256.
/// </summary>
public static class BackupWriter
{
    public static async Task<BackupManifest> WriteAsync(BackupSource source, Stream output, bool includeImages, ITransferProgress progress, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(progress);
        var created = time.GetUtcNow();

        // 1. The database, first and quickly: everything else is either immutable (blobs) or tiny.
        var (collections, userVersion) = source.Database is { } database
            ? await Task.Run(() => DumpDatabase(database), cancellationToken).ConfigureAwait(false)
            : ([], 0);
        var leases = source.Leases();
        var leases6 = source.Leases6();
        var files = CollectFiles(source, includeImages);
        var total = collections.Sum(c => (long)c.Bson.Length) + files.Sum(f => f.Size) + (leases?.Count ?? 0) * 64L;
        progress.Start("backup", total);

        var entries = new List<BackupEntry>();
        var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        await using (tar.ConfigureAwait(false))
        {
            foreach (var c in collections)
            {
                entries.Add(await WriteBytesAsync(tar, BackupLayout.DatabasePrefix + c.Name + BackupLayout.DatabaseSuffix, c.Bson, 0b110_000_000, created, cancellationToken).ConfigureAwait(false));
                progress.Advance(c.Bson.Length);
            }

            if (leases is not null)
            {
                using var journal = new MemoryStream();
                LiteDbLeaseStore.WriteJournal(journal, leases);
                entries.Add(await WriteBytesAsync(tar, BackupLayout.LeaseJournal, journal.ToArray(), 0b110_000_000, created, cancellationToken).ConfigureAwait(false));
            }

            if (leases6 is not null)
            {
                using var journal = new MemoryStream();
                Kldload.Dhcp.Dhcp6.Leases.Dhcp6LeaseJournalStore.WriteJournal(journal, leases6);
                entries.Add(await WriteBytesAsync(tar, BackupLayout.Lease6Journal, journal.ToArray(), 0b110_000_000, created, cancellationToken).ConfigureAwait(false));
            }

            foreach (var f in files)
            {
                if (await WriteFileAsync(tar, f.ArchivePath, f.FullPath, created, progress, cancellationToken).ConfigureAwait(false) is { } entry)
                {
                    entries.Add(entry);
                }
            }

            var settings = JsonSerializer.SerializeToUtf8Bytes(new SortedDictionary<string, string?>(source.Settings.ToDictionary(), StringComparer.Ordinal), BackupManifest.Json);
            entries.Add(await WriteBytesAsync(tar, BackupLayout.Settings, settings, 0b110_000_000, created, cancellationToken).ConfigureAwait(false));

            var counts = new BackupCounts
            {
                Collections = collections.Count,
                Documents = collections.Sum(c => c.Count),
                Nodes = CountOf(collections, "nodes"),
                Events = CountOf(collections, "events"),
                Images = CountOf(collections, "image_manifests"),
                Channels = CountOf(collections, "image_channels"),
                Leases = leases?.Count ?? 0,
                Leases6 = leases6?.Count ?? 0,
                Blobs = files.Count(f => f.ArchivePath.StartsWith(BackupLayout.BlobsPrefix, StringComparison.Ordinal)),
                BlobBytes = files.Where(f => f.ArchivePath.StartsWith(BackupLayout.BlobsPrefix, StringComparison.Ordinal)).Sum(f => f.Size),
            };
            var manifest = new BackupManifest
            {
                Created = created,
                KldloadVersion = BuildInfo.Version,
                Host = Environment.MachineName,
                DataDir = source.DataDir,
                IncludesImages = includeImages,
                DatabaseUserVersion = userVersion,
                ExternalDatabase = source.Database is null ? "PostgreSql" : null,
                Counts = counts,
                Entries = entries,
            };
            await WriteBytesAsync(tar, BackupManifest.FileName, JsonSerializer.SerializeToUtf8Bytes(manifest, BackupManifest.Json), 0b110_000_000, created, cancellationToken).ConfigureAwait(false);
            progress.Finish();
            return manifest;
        }
    }

    private static long CountOf(List<(string Name, byte[] Bson, long Count)> collections, string name) =>
        collections.FirstOrDefault(c => c.Name == name).Count;

    /// <summary>
    /// Reads every collection inside one transaction. Each collection's snapshot is pinned (by a count)
    /// before any is read, so all of them are taken within the same instant; writers are never blocked.
    /// Runs on one thread: LiteDB transactions belong to the thread that began them.
    /// </summary>
    internal static (List<(string Name, byte[] Bson, long Count)> Collections, int UserVersion) DumpDatabase(ILiteDatabase db)
    {
        var names = db.GetCollectionNames().Order(StringComparer.Ordinal).ToList();
        var result = new List<(string, byte[], long)>(names.Count);
        var userVersion = db.UserVersion;
        db.BeginTrans();
        try
        {
            foreach (var name in names)
            {
                _ = db.GetCollection(name).Count();
            }

            foreach (var name in names)
            {
                using var buffer = new MemoryStream();
                long count = 0;
                foreach (var doc in db.GetCollection(name).FindAll())
                {
                    buffer.Write(BsonSerializer.Serialize(doc));
                    count++;
                }

                result.Add((name, buffer.ToArray(), count));
            }
        }
        finally
        {
            db.Rollback();
        }

        return (result, userVersion);
    }

    private static List<(string ArchivePath, string FullPath, long Size)> CollectFiles(BackupSource source, bool includeImages)
    {
        var files = new List<(string, string, long)>();
        void AddTree(string directory, string prefix, Func<string, bool> include)
        {
            if (!Directory.Exists(directory))
            {
                return;
            }

            foreach (var path in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var relative = Path.GetRelativePath(directory, path).Replace('\\', '/');
                var info = new FileInfo(path);
                if (include(Path.GetFileName(path)) && info.LinkTarget is null)
                {
                    files.Add((prefix + relative, path, info.Length));
                }
            }
        }

        var caDirectory = Path.Combine(source.DataDir, Listeners.MeshHubHosting.CaDirectoryName);
        AddTree(caDirectory, BackupLayout.MeshCaPrefix, _ => true);
        if (source.MeshCaKeyFile is { } caKey && File.Exists(caKey)
            && Path.GetRelativePath(caDirectory, caKey) is var relative && (relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative)))
        {
            files.Add((BackupLayout.MeshCaKey, caKey, new FileInfo(caKey).Length));
        }

        if (File.Exists(source.AdminTokenFile))
        {
            files.Add((BackupLayout.AdminToken, source.AdminTokenFile, new FileInfo(source.AdminTokenFile).Length));
        }

        // Without this key the sealed BMC passwords in the database do not open.
        var bmcKey = Path.Combine(source.DataDir, Power.BmcCredentialKey.FileName);
        if (File.Exists(bmcKey))
        {
            files.Add((BackupLayout.BmcKey, bmcKey, new FileInfo(bmcKey).Length));
        }

        AddTree(source.TrustedKeysDir, BackupLayout.TrustedKeysPrefix, n => !n.StartsWith('.'));
        if (includeImages)
        {
            // Only finished blobs: names that are digests (temporary files start with a dot).
            AddTree(Path.Combine(source.ImagesRoot, "blobs"), BackupLayout.BlobsPrefix, n => Sha256Digest.TryParse(n, out _));
        }

        return files;
    }

    private static async Task<BackupEntry> WriteBytesAsync(TarWriter tar, string path, byte[] bytes, int mode, DateTimeOffset created, CancellationToken ct)
    {
        using var data = new MemoryStream(bytes, writable: false);
        var entry = new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = data, Mode = (UnixFileMode)mode, ModificationTime = created };
        await tar.WriteEntryAsync(entry, ct).ConfigureAwait(false);
        return new BackupEntry(path, bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes)), mode);
    }

    /// <summary>Writes one file; null when it vanished since it was listed (a finished temporary file, a collected blob).</summary>
    private static async Task<BackupEntry?> WriteFileAsync(TarWriter tar, string path, string fullPath, DateTimeOffset created, ITransferProgress progress, CancellationToken ct)
    {
        FileStream file;
        int mode;
        try
        {
            mode = (int)File.GetUnixFileMode(fullPath) & 0b111_111_111;
            file = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (FileNotFoundException)
        {
            return null;
        }

        await using (file.ConfigureAwait(false))
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using var data = new ObservedReadStream(file, hash, progress, file.Length);
            var entry = new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = data, Mode = (UnixFileMode)mode, ModificationTime = created };
            await tar.WriteEntryAsync(entry, ct).ConfigureAwait(false);
            if (data.BytesRead != file.Length)
            {
                throw new IOException($"{fullPath} changed size while it was being backed up");
            }

            return new BackupEntry(path, data.BytesRead, Convert.ToHexStringLower(hash.GetHashAndReset()), mode);
        }
    }
}
