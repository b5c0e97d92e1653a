using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.Age;
using Kldload.ImageStore;
using LiteDB;
using JsonSerializer = System.Text.Json.JsonSerializer;

namespace Kldload.Provisioner.Backup;

/// <summary>Why a backup could not be verified or restored; each has its own exit message.</summary>
public enum BackupFailure
{
    TargetNotEmpty,
    NotAnArchive,
    WrongKey,
    Damaged,
    Truncated,
    Io,
}

public sealed class BackupException(BackupFailure failure, string message, Exception? inner = null) : Exception(message, inner)
{
    public BackupFailure Failure { get; } = failure;

    internal static BackupException From(AgeException e) => new(e.Failure switch
    {
        AgeFailure.NotAge => BackupFailure.NotAnArchive,
        AgeFailure.WrongKey or AgeFailure.BadKey => BackupFailure.WrongKey,
        AgeFailure.Truncated => BackupFailure.Truncated,
        _ => BackupFailure.Damaged,
    }, e.Message, e);
}

/// <summary>What a restore did: the manifest it restored and where the previous content went (with --force).</summary>
public sealed record RestoreResult(BackupManifest Manifest, string TargetDir, string? PreviousContentMovedTo);

/// <summary>
/// Verifies and restores backups. Nothing reaches the target directory until the whole archive has
/// been decrypted, every chunk authenticated and every file checked against <c>MANIFEST.json</c>:
/// files are unpacked into a staging directory beside the target, the data directory is assembled
/// there, and one rename puts it in place. Any failure deletes the staging directory and leaves the
/// target exactly as it was.
/// </summary>
public static class BackupRestorer
{
    private const string Incoming = ".incoming";

    /// <summary>Reads the whole archive and checks every digest without writing anything.</summary>
    public static async Task<BackupManifest> VerifyAsync(Stream archive, AgeKeys keys, ITransferProgress progress, CancellationToken cancellationToken)
    {
        return await ReadAsync(archive, keys, progress, "verify", (_, data, ct) => data.CopyToAsync(Stream.Null, ct), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Restores <paramref name="archive"/> into <paramref name="targetDir"/>, which must be missing or
    /// empty unless <paramref name="force"/> is set; with force, the old content is moved aside to
    /// <c>{target}.before-restore-{time}</c>, never deleted.
    /// </summary>
    public static async Task<RestoreResult> RestoreAsync(Stream archive, AgeKeys keys, string targetDir, bool force, ITransferProgress progress, TimeProvider time, CancellationToken cancellationToken)
    {
        var target = Path.GetFullPath(targetDir).TrimEnd('/');
        var parent = Path.GetDirectoryName(target) ?? throw new BackupException(BackupFailure.Io, $"cannot restore into {target}");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Take(6).ToList() is { Count: > 0 } present && !force)
        {
            throw new BackupException(BackupFailure.TargetNotEmpty,
                $"the target directory {target} is not empty ({string.Join(", ", present.Take(5).Select(Path.GetFileName))}{(present.Count > 5 ? ", ..." : string.Empty)}): restore into an empty or new directory, or pass --force to move its content aside");
        }

        if (Directory.Exists(target) && Storage.DataDirectoryLock.IsHeld(target))
        {
            throw new BackupException(BackupFailure.TargetNotEmpty, $"a kldload serve is running on {target}: stop it before restoring");
        }

        if (File.Exists(target))
        {
            throw new BackupException(BackupFailure.TargetNotEmpty, $"the target {target} is a file, not a directory");
        }

        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(target)}.restore-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        Directory.CreateDirectory(staging, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var incoming = Path.Combine(staging, Incoming);
            var manifest = await ReadAsync(archive, keys, progress, "restore", (entry, data, ct) => ExtractAsync(incoming, entry, data, ct), cancellationToken).ConfigureAwait(false);
            Assemble(incoming, staging, manifest);
            Directory.Delete(incoming, recursive: true);
            var moved = Swap(staging, target, time);
            return new RestoreResult(manifest, target, moved);
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            throw;
        }
    }

    private static async Task<BackupManifest> ReadAsync(Stream archive, AgeKeys keys, ITransferProgress progress, string label, Func<TarEntry, Stream, CancellationToken, Task> sink, CancellationToken ct)
    {
        progress.Start(label, archive.CanSeek ? archive.Length : 0);
        var counted = new ObservedReadStream(archive, progress: progress);
        try
        {
            await using var plain = AgeDecryptingStream.Open(counted, keys, leaveOpen: true);
            var seen = new Dictionary<string, (long Size, string Sha256)>(StringComparer.Ordinal);
            BackupManifest? manifest = null;
            var tar = new TarReader(plain, leaveOpen: true);
            await using (tar.ConfigureAwait(false))
            {
                while (await tar.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
                {
                    if (manifest is not null)
                    {
                        throw new BackupException(BackupFailure.Damaged, $"the archive has a file after its manifest ({entry.Name})");
                    }

                    if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || !BackupLayout.IsAllowed(entry.Name) || seen.ContainsKey(entry.Name))
                    {
                        throw new BackupException(BackupFailure.Damaged, $"the archive holds an unexpected entry '{entry.Name}' ({entry.EntryType}): not a kldload backup, or tampered with");
                    }

                    using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    var data = entry.DataStream ?? Stream.Null;
                    if (entry.Name == BackupManifest.FileName)
                    {
                        using var buffer = new MemoryStream();
                        await data.CopyToAsync(buffer, ct).ConfigureAwait(false);
                        manifest = ParseManifest(buffer.ToArray());
                        continue;
                    }

                    var hashing = new ObservedReadStream(data, hash);
                    await sink(entry, hashing, ct).ConfigureAwait(false);
                    seen[entry.Name] = (hashing.BytesRead, Convert.ToHexStringLower(hash.GetHashAndReset()));
                }
            }

            // The tar end marker is not the end of the file: read to the end so the final age chunk
            // is authenticated too (a cut after the tar trailer is still a damaged archive).
            await plain.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
            if (manifest is null)
            {
                throw new BackupException(BackupFailure.Damaged, "the archive has no MANIFEST.json: not a complete kldload backup");
            }

            Check(manifest, seen);
            progress.Finish();
            return manifest;
        }
        catch (AgeException e)
        {
            throw BackupException.From(e);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new BackupException(BackupFailure.Damaged, $"the archive content is damaged: {e.Message}", e);
        }
    }

    private static BackupManifest ParseManifest(byte[] json)
    {
        try
        {
            var manifest = JsonSerializer.Deserialize<BackupManifest>(json, BackupManifest.Json);
            if (manifest?.Format != BackupManifest.CurrentFormat)
            {
                throw new BackupException(BackupFailure.NotAnArchive, $"unsupported backup format '{manifest?.Format}' (this kldload reads {BackupManifest.CurrentFormat})");
            }

            return manifest;
        }
        catch (JsonException e)
        {
            throw new BackupException(BackupFailure.Damaged, $"the archive's MANIFEST.json does not parse: {e.Message}", e);
        }
    }

    private static void Check(BackupManifest manifest, Dictionary<string, (long Size, string Sha256)> seen)
    {
        var problems = new List<string>();
        foreach (var e in manifest.Entries)
        {
            if (!seen.TryGetValue(e.Path, out var got))
            {
                problems.Add($"{e.Path} is missing");
            }
            else if (got.Size != e.Size || !string.Equals(got.Sha256, e.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{e.Path} does not match its digest (sha256 {got.Sha256[..12]}..., expected {e.Sha256[..Math.Min(12, e.Sha256.Length)]}...)");
            }
        }

        problems.AddRange(seen.Keys.Except(manifest.Entries.Select(e => e.Path)).Select(p => $"{p} is not in the manifest"));
        if (problems.Count > 0)
        {
            throw new BackupException(BackupFailure.Damaged, $"the archive does not match its manifest: {string.Join("; ", problems.Take(5))}{(problems.Count > 5 ? $" (and {problems.Count - 5} more)" : string.Empty)}");
        }
    }

    private static async Task ExtractAsync(string incoming, TarEntry entry, Stream data, CancellationToken ct)
    {
        var path = Path.Combine(incoming, entry.Name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var mode = (UnixFileMode)((int)entry.Mode & 0b111_111_111) | UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var file = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode, BufferSize = 1 << 16 });
        await using (file.ConfigureAwait(false))
        {
            await data.CopyToAsync(file, ct).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
        }
    }

    /// <summary>Builds the data directory layout in <paramref name="staging"/> from the checked files.</summary>
    private static void Assemble(string incoming, string staging, BackupManifest manifest)
    {
        var dbDir = Path.Combine(incoming, "db");
        var dbPath = Path.Combine(staging, "kldload.db");
        using (var db = new LiteDatabase(new ConnectionString { Filename = dbPath, Connection = ConnectionType.Direct }))
        {
            if (Directory.Exists(dbDir))
            {
                foreach (var file in Directory.EnumerateFiles(dbDir, "*" + BackupLayout.DatabaseSuffix).Order(StringComparer.Ordinal))
                {
                    var name = Path.GetFileNameWithoutExtension(file);
                    var docs = ReadDocuments(File.ReadAllBytes(file), name);
                    var collection = db.GetCollection(name);
                    if (docs.Count > 0)
                    {
                        collection.InsertBulk(docs);
                    }
                    else
                    {
                        // An empty collection is restored empty, not left out: a document in and out
                        // again is how LiteDB creates one.
                        var probe = collection.Insert(new BsonDocument { ["restore"] = true });
                        collection.Delete(probe);
                    }
                }
            }

            db.UserVersion = manifest.DatabaseUserVersion;
            db.UtcDate = true; // as kldload opens it: times read back as UTC
            db.Checkpoint();
        }

        MoveIfExists(Path.Combine(incoming, BackupLayout.LeaseJournal), Path.Combine(staging, "leases.journal"));
        MoveIfExists(Path.Combine(incoming, BackupLayout.Lease6Journal), Path.Combine(staging, "leases6.journal"));
        MoveIfExists(Path.Combine(incoming, BackupLayout.AdminToken), Path.Combine(staging, "admin.token"));
        MoveIfExists(Path.Combine(incoming, BackupLayout.BmcKey), Path.Combine(staging, Power.BmcCredentialKey.FileName));
        MoveIfExists(Path.Combine(incoming, BackupLayout.Settings), Path.Combine(staging, BackupLayout.RestoredSettingsFile));
        MoveIfExists(Path.Combine(incoming, BackupLayout.MeshCaPrefix.TrimEnd('/')), Path.Combine(staging, Listeners.MeshHubHosting.CaDirectoryName));
        if (File.Exists(Path.Combine(incoming, BackupLayout.MeshCaKey)) && !File.Exists(Path.Combine(staging, Listeners.MeshHubHosting.CaDirectoryName, "ca.key")))
        {
            Directory.CreateDirectory(Path.Combine(staging, Listeners.MeshHubHosting.CaDirectoryName));
            MoveIfExists(Path.Combine(incoming, BackupLayout.MeshCaKey), Path.Combine(staging, Listeners.MeshHubHosting.CaDirectoryName, "ca.key"));
        }

        MoveIfExists(Path.Combine(incoming, "images"), Path.Combine(staging, "images"));
        if (Directory.Exists(Path.Combine(staging, Listeners.MeshHubHosting.CaDirectoryName)))
        {
            File.SetUnixFileMode(Path.Combine(staging, Listeners.MeshHubHosting.CaDirectoryName), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        Directory.CreateDirectory(Path.Combine(staging, "images", "blobs"));
    }

    private static List<BsonDocument> ReadDocuments(byte[] bytes, string collection)
    {
        var docs = new List<BsonDocument>();
        var offset = 0;
        while (offset < bytes.Length)
        {
            var length = offset + 4 <= bytes.Length ? BitConverter.ToInt32(bytes, offset) : -1;
            if (length < 5 || offset + length > bytes.Length)
            {
                throw new BackupException(BackupFailure.Damaged, $"the {collection} collection in the archive is damaged at byte {offset}");
            }

            docs.Add(BsonSerializer.Deserialize(bytes[offset..(offset + length)], utcDate: true));
            offset += length;
        }

        return docs;
    }

    private static void MoveIfExists(string from, string to)
    {
        if (File.Exists(from))
        {
            File.Move(from, to);
        }
        else if (Directory.Exists(from))
        {
            Directory.Move(from, to);
        }
    }

    /// <summary>Puts the staging directory in place of the target with renames only.</summary>
    private static string? Swap(string staging, string target, TimeProvider time)
    {
        if (!Directory.Exists(target))
        {
            Directory.Move(staging, target);
            return null;
        }

        if (!Directory.EnumerateFileSystemEntries(target).Any())
        {
            Directory.Delete(target);
            Directory.Move(staging, target);
            return null;
        }

        var aside = $"{target}.before-restore-{time.GetUtcNow():yyyyMMddTHHmmssZ}";
        Directory.Move(target, aside);
        try
        {
            Directory.Move(staging, target);
        }
        catch
        {
            Directory.Move(aside, target);
            throw;
        }

        return aside;
    }
}
