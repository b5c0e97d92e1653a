using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ZstdSharp;

namespace Kldload.ImageStore;

/// <summary>Writes bundles (see <see cref="BundleFormat"/>).</summary>
internal static class BundleWriter
{
    public static async Task WriteAsync(LiveImageStore store, IReadOnlyList<ImageManifest> images, string output, BundleSigningKey? key, string? channel, DateTimeOffset now, ITransferProgress progress, CancellationToken cancellationToken)
    {
        if (images.Count == 0)
        {
            throw new BundleException("nothing to export");
        }

        if (key is null)
        {
            throw new BundleException("a bundle must be signed: give --sign KEY (create one with 'kldload image keygen')");
        }

        var blobs = images.SelectMany(m => m.Blobs).Distinct().ToList();
        var sizes = new Dictionary<Sha256Digest, long>();
        foreach (var b in blobs)
        {
            sizes[b] = store.Blobs.SizeOf(b) ?? throw new BundleException($"blob {b} of {string.Join(", ", images.Where(m => m.Blobs.Contains(b)).Select(m => m.Key))} is missing from the store (run 'kldload image verify')");
        }

        var index = new JsonObject
        {
            ["format"] = BundleFormat.FormatName,
            ["created"] = now.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["channel"] = channel,
            ["images"] = new JsonArray(images.Select(m => (JsonNode)ManifestJson.Write(m)).ToArray()),
            ["blobs"] = new JsonArray(blobs.Select(b => (JsonNode)new JsonObject { ["digest"] = b.ToString(), ["size"] = sizes[b] }).ToArray()),
        };
        var indexBytes = Encoding.UTF8.GetBytes(index.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        var signature = new JsonObject
        {
            ["algorithm"] = BundleSignatureAlgorithmNames.ToText(key.Algorithm),
            ["keyId"] = key.Id,
            ["signature"] = Convert.ToBase64String(key.Sign(indexBytes)),
        };
        var signatureBytes = Encoding.UTF8.GetBytes(signature.ToJsonString());

        var full = Path.GetFullPath(output);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.partial-{Environment.ProcessId}");
        progress.Start($"exporting {string.Join(", ", images.Select(m => m.Key))}", sizes.Values.Sum());
        try
        {
            var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                var compressed = BundleFormat.FromFileName(output) switch
                {
                    BundleFormat.Compression.Gzip => new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true),
                    BundleFormat.Compression.Zstd => ZstdWithChecksum(file),
                    _ => (Stream)new NonClosingStream(file),
                };
                await using (compressed.ConfigureAwait(false))
                {
                    var tar = new TarWriter(compressed, TarEntryFormat.Gnu, leaveOpen: true);
                    await using (tar.ConfigureAwait(false))
                    {
                        await WriteBytesAsync(tar, BundleFormat.IndexEntry, indexBytes, now, cancellationToken).ConfigureAwait(false);
                        await WriteBytesAsync(tar, BundleFormat.SignatureEntry, signatureBytes, now, cancellationToken).ConfigureAwait(false);
                        foreach (var b in blobs)
                        {
                            var source = new FileStream(store.Blobs.PathOf(b), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
                            await using (source.ConfigureAwait(false))
                            {
                                var entry = new GnuTarEntry(TarEntryType.RegularFile, BundleFormat.BlobPrefix + b)
                                {
                                    DataStream = new ProgressStream(source, progress, ownsInner: false),
                                    ModificationTime = now,
                                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                                };
                                await tar.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
                            }
                        }
                    }
                }

                file.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            progress.Finish();
            File.Delete(temp);
        }
    }

    /// <summary>zstd with its frame checksum on, so any flipped byte of the file fails decompression.</summary>
    private static CompressionStream ZstdWithChecksum(Stream file)
    {
        var zstd = new CompressionStream(file, 3, leaveOpen: true);
        zstd.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
        return zstd;
    }

    private static async Task WriteBytesAsync(TarWriter tar, string name, byte[] bytes, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var entry = new GnuTarEntry(TarEntryType.RegularFile, name)
        {
            DataStream = new MemoryStream(bytes, writable: false),
            ModificationTime = now,
            Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
        };
        await tar.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lets a writer "close" a stream that its owner still flushes afterwards.</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => inner.Position;
            set => throw new NotSupportedException();
        }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);
    }
}
