using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Kldload.ImageStore;

namespace Kldload.Provisioner.Kit;

/// <summary>A file to put in a kit: the entry it becomes (without its digest) and where it is read from.</summary>
public sealed record KitSource(KitEntryKind Kind, string Path, string Name, string SourceFile)
{
    public string? Target { get; init; }

    public string? Image { get; init; }

    public IReadOnlyList<string> Channels { get; init; } = [];
}

/// <summary>Writes kits (see <see cref="KitFormat"/>): hashes every source, signs the index, writes the tar.</summary>
public static class KitWriter
{
    private const UnixFileMode EntryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>
    /// Writes the kit to <paramref name="output"/> (as a hidden partial file, renamed when complete)
    /// and returns its index. Throws <see cref="KitException"/> when a source changed while it was written.
    /// </summary>
    public static async Task<KitIndex> WriteAsync(string output, IReadOnlyList<KitSource> sources, BundleSigningKey key, KitVersion version, string commit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(key);
        var entries = new List<KitEntry>();
        foreach (var s in sources)
        {
            var (digest, size) = await HashAsync(s.SourceFile, cancellationToken).ConfigureAwait(false);
            entries.Add(new KitEntry { Kind = s.Kind, Path = s.Path, Name = s.Name, Size = size, Sha256 = digest, Target = s.Target, Image = s.Image, Channels = s.Channels });
        }

        var index = new KitIndex(version, commit, entries);
        var indexBytes = Encoding.UTF8.GetBytes(index.ToJson().ToJsonString(KitFormat.Indented));
        var signature = new JsonObject
        {
            ["algorithm"] = BundleSignatureAlgorithmNames.ToText(key.Algorithm),
            ["keyId"] = key.Id,
            ["signature"] = Convert.ToBase64String(key.Sign(indexBytes)),
        };
        var signatureBytes = Encoding.UTF8.GetBytes(signature.ToJsonString());

        var full = System.IO.Path.GetFullPath(output);
        var temp = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(full)!, $".{System.IO.Path.GetFileName(full)}.partial-{Environment.ProcessId}");
        try
        {
            var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                var tar = new TarWriter(file, TarEntryFormat.Gnu, leaveOpen: true);
                await using (tar.ConfigureAwait(false))
                {
                    await WriteEntryAsync(tar, KitFormat.IndexEntry, new MemoryStream(indexBytes, writable: false), version.Created, cancellationToken).ConfigureAwait(false);
                    await WriteEntryAsync(tar, KitFormat.SignatureEntry, new MemoryStream(signatureBytes, writable: false), version.Created, cancellationToken).ConfigureAwait(false);
                    for (var i = 0; i < sources.Count; i++)
                    {
                        var source = new FileStream(sources[i].SourceFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
                        await using (source.ConfigureAwait(false))
                        {
                            if (source.Length != entries[i].Size)
                            {
                                throw new KitException($"{sources[i].SourceFile} changed while the kit was written; nothing written");
                            }

                            await WriteEntryAsync(tar, entries[i].Path, source, version.Created, cancellationToken).ConfigureAwait(false);
                        }
                    }
                }

                file.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }

        return index;
    }

    internal static async Task<(string Digest, long Size)> HashAsync(string path, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            var hash = await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false);
            return (Convert.ToHexStringLower(hash), file.Length);
        }
    }

    private static async Task WriteEntryAsync(TarWriter tar, string name, Stream content, DateTimeOffset time, CancellationToken cancellationToken)
    {
        var entry = new GnuTarEntry(TarEntryType.RegularFile, name) { DataStream = content, ModificationTime = time, Mode = EntryMode };
        await tar.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
    }
}
