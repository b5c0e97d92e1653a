using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ZstdSharp;

namespace Kldload.ImageStore;

/// <summary>
/// The bundle format: a tar archive (optionally gzip or zstd compressed) that carries images to a
/// site with no network.
/// <code>
/// bundle.json     index: { "format": "kldload-bundle/1", "created": ISO-8601, "channel": null|"stable",
///                          "images": [ full manifests ], "blobs": [ { "digest": hex, "size": n } ] }
/// bundle.sig      detached signature of the exact bytes of bundle.json:
///                 { "algorithm": "ed25519"|"ecdsa-p256-sha256", "keyId": hex SHA-256 of the
///                   signer's DER SubjectPublicKeyInfo, "signature": base64 }
/// blobs/{digest}  one regular file per blob, named by its SHA-256
/// </code>
/// The signature covers the index, and the index names every blob by hash, so one signature check
/// plus a hash per blob authenticates every byte.
/// </summary>
public static class BundleFormat
{
    public const string FormatName = "kldload-bundle/1";
    public const string IndexEntry = "bundle.json";
    public const string SignatureEntry = "bundle.sig";
    public const string BlobPrefix = "blobs/";

    /// <summary>Compression of a bundle file.</summary>
    public enum Compression : byte
    {
        None = 0,
        Gzip = 1,
        Zstd = 2,
    }

    /// <summary>Compression chosen by the output file name: <c>.gz</c>/<c>.tgz</c>, <c>.zst</c>, else none.</summary>
    public static Compression FromFileName(string path)
        => path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase) ? Compression.Gzip
            : path.EndsWith(".zst", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".zstd", StringComparison.OrdinalIgnoreCase) ? Compression.Zstd
            : Compression.None;

    /// <summary>Compression recognised by magic number: gzip 1F 8B, zstd 28 B5 2F FD.</summary>
    public static Compression FromMagic(ReadOnlySpan<byte> head)
        => head.Length >= 2 && head[0] == 0x1F && head[1] == 0x8B ? Compression.Gzip
            : head.Length >= 4 && head[0] == 0x28 && head[1] == 0xB5 && head[2] == 0x2F && head[3] == 0xFD ? Compression.Zstd
            : Compression.None;
}

/// <summary>A bundle was refused; the message names what is wrong in one line.</summary>
public sealed class BundleException(string message, Exception? inner = null) : Exception(message, inner);

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

/// <summary>
/// Reads and checks a bundle, then publishes it. Blobs are staged under the store's staging
/// directory while the archive streams by; only after the signature, every blob hash, every size
/// and every manifest reference check out are the blobs moved into the store and the manifests
/// committed (one transaction). On any refusal the staging directory is removed and the store is
/// exactly as it was.
/// </summary>
public sealed class BundleReader
{
    private const int MaxIndexBytes = 16 << 20;
    private const int MaxSignatureBytes = 64 << 10;

    private readonly LiveImageStore _store;
    private readonly TrustedKeys _trusted;

    public BundleReader(LiveImageStore store, TrustedKeys trusted)
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
            var content = await ReadArchiveAsync(path, staging, progress, cancellationToken).ConfigureAwait(false);
            var (images, channel) = Check(content);
            foreach (var m in images)
            {
                if (_store.Catalog.Get(m.Key) is { } existing && !existing.SameContentAs(m))
                {
                    throw new BundleException($"image {m.Key} already exists here with different content; nothing imported");
                }
            }

            // Everything checks out: publish blobs (each re-hashed as it is adopted), then manifests.
            var written = 0;
            foreach (var (digest, _) in content.Blobs)
            {
                var stored = await _store.Blobs.AdoptAsync(Path.Combine(staging, digest.ToString()), digest, cancellationToken).ConfigureAwait(false);
                if (stored.AlreadyPresent)
                {
                    File.SetLastWriteTimeUtc(_store.Blobs.PathOf(digest), DateTime.UtcNow);
                }
                else
                {
                    written++;
                }
            }

            var added = _store.Catalog.Add(images, by, $"bundle {Path.GetFullPath(path)} signed by {content.SignerId}");
            return new BundleImportResult(images, added, channel, content.SignerId!, written);
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    private sealed class ArchiveContent
    {
        public byte[]? Index { get; set; }

        public byte[]? Signature { get; set; }

        public string? SignerId { get; set; }

        public Dictionary<Sha256Digest, long> Blobs { get; } = [];

        /// <summary>Where each entry's data lies in an uncompressed archive (for the padding check).</summary>
        public List<(long Offset, long Length)> DataRanges { get; } = [];
    }

    private async Task<ArchiveContent> ReadArchiveAsync(string path, string staging, ITransferProgress progress, CancellationToken cancellationToken)
    {
        var content = new ArchiveContent();
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
        progress.Start($"reading bundle {Path.GetFileName(path)}", file.Length);
        try
        {
            var head = new byte[4];
            var n = await file.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            file.Position = 0;
            var counted = new ProgressStream(file, progress, ownsInner: true);
            Stream archive = BundleFormat.FromMagic(head.AsSpan(0, n)) switch
            {
                BundleFormat.Compression.Gzip => new GZipStream(counted, CompressionMode.Decompress),
                BundleFormat.Compression.Zstd => new DecompressionStream(counted),
                _ => counted,
            };
            await using (archive.ConfigureAwait(false))
            {
                var tar = new TarReader(archive, leaveOpen: true);
                await using (tar.ConfigureAwait(false))
                {
                    while (await tar.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
                    {
                        await ReadEntryAsync(entry, content, staging, cancellationToken).ConfigureAwait(false);
                    }
                }

                // Read to the very end: this checks the gzip CRC or zstd checksum over the whole
                // file, and that nothing but tar's zero padding follows the end-of-archive marker.
                await RequireZeroTailAsync(archive, cancellationToken).ConfigureAwait(false);
            }

            if (ReferenceEquals(archive, counted))
            {
                await CheckUncompressedLayoutAsync(path, content.DataRanges, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or ZstdException or EndOfStreamException
            || (e is IOException && e is not BlobDigestMismatchException))
        {
            throw new BundleException($"{path}: damaged archive ({e.Message.TrimEnd('.')}); nothing imported", e);
        }
        finally
        {
            progress.Finish();
        }

        return content;
    }

    /// <summary>
    /// For an uncompressed bundle, where no checksum covers the whole file, checks the layout byte
    /// for byte: entries follow each other with one header block each (as export writes them),
    /// every header's checksum (POSIX ustar: sum of the 512 header bytes with the checksum field
    /// read as spaces, in octal at offset 148) is right, and all padding and the end is zeros.
    /// </summary>
    private static async Task CheckUncompressedLayoutAsync(string path, List<(long Offset, long Length)> ranges, CancellationToken cancellationToken)
    {
        const int Block = 512;
        const int ChecksumOffset = 148;
        const int ChecksumLength = 8;
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.RandomAccess | FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            var header = new byte[Block];
            long expected = 0;
            foreach (var (offset, length) in ranges)
            {
                if (offset - Block != expected)
                {
                    throw new BundleException($"unexpected tar layout at offset {expected} (extra or missing headers; bundles are written by 'kldload image export'); nothing imported");
                }

                file.Position = expected;
                await file.ReadExactlyAsync(header, cancellationToken).ConfigureAwait(false);
                var field = System.Text.Encoding.ASCII.GetString(header, ChecksumOffset, ChecksumLength).Trim(' ', '\0');
                long sum = 0;
                for (var i = 0; i < Block; i++)
                {
                    sum += i is >= ChecksumOffset and < ChecksumOffset + ChecksumLength ? (byte)' ' : header[i];
                }

                if (field.Length == 0 || !field.All(c => c is >= '0' and <= '7') || Convert.ToInt64(field, 8) != sum)
                {
                    throw new BundleException($"tar header at offset {expected} fails its checksum (altered bundle); nothing imported");
                }

                expected = offset + ((length + Block - 1) / Block * Block);
                await RequireZerosAsync(file, offset + length, expected, cancellationToken).ConfigureAwait(false);
            }

            await RequireZerosAsync(file, expected, file.Length, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task RequireZerosAsync(FileStream file, long from, long to, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        file.Position = from;
        while (from < to)
        {
            var n = (int)Math.Min(buffer.Length, to - from);
            await file.ReadExactlyAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                throw new BundleException($"non-zero bytes in tar padding near offset {from} (altered bundle); nothing imported");
            }

            from += n;
        }
    }

    private static async Task RequireZeroTailAsync(Stream archive, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        int n;
        while ((n = await archive.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                throw new BundleException("data follows the end of the tar archive (altered or concatenated bundle); nothing imported");
            }
        }
    }

    private static async Task ReadEntryAsync(TarEntry entry, ArchiveContent content, string staging, CancellationToken cancellationToken)
    {
        if (entry.DataOffset >= 0)
        {
            content.DataRanges.Add((entry.DataOffset, entry.Length));
        }

        var name = entry.Name;
        if (name.StartsWith("./", StringComparison.Ordinal))
        {
            name = name[2..];
        }

        if (name.StartsWith('/') || name.Contains('\\', StringComparison.Ordinal) || name.Split('/').Any(p => p == "..") || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new BundleException($"entry '{entry.Name}' escapes the archive root; nothing imported");
        }

        if (entry.EntryType == TarEntryType.Directory && name is "" or "blobs" or "blobs/")
        {
            return;
        }

        if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
        {
            throw new BundleException($"entry '{entry.Name}' is a {entry.EntryType}, bundles hold regular files only; nothing imported");
        }


        switch (name)
        {
            case BundleFormat.IndexEntry:
                content.Index = content.Index is null
                    ? await ReadSmallAsync(entry, MaxIndexBytes, cancellationToken).ConfigureAwait(false)
                    : throw new BundleException($"{BundleFormat.IndexEntry} appears twice; nothing imported");
                return;
            case BundleFormat.SignatureEntry:
                content.Signature = content.Signature is null
                    ? await ReadSmallAsync(entry, MaxSignatureBytes, cancellationToken).ConfigureAwait(false)
                    : throw new BundleException($"{BundleFormat.SignatureEntry} appears twice; nothing imported");
                return;
        }

        if (!name.StartsWith(BundleFormat.BlobPrefix, StringComparison.Ordinal) || !Sha256Digest.TryParse(name[BundleFormat.BlobPrefix.Length..], out var digest))
        {
            throw new BundleException($"unexpected entry '{entry.Name}' (a bundle holds bundle.json, bundle.sig and blobs/SHA256); nothing imported");
        }

        if (content.Blobs.ContainsKey(digest.Value))
        {
            throw new BundleException($"blob {digest} appears twice; nothing imported");
        }

        var target = Path.Combine(staging, digest.Value.ToString());
        var (actual, size) = await BlobStore.WriteTempAsync(entry.DataStream ?? Stream.Null, target, null, cancellationToken).ConfigureAwait(false);
        if (actual != digest.Value)
        {
            throw new BundleException($"blob {digest} does not match its content (hashes to {actual}): the bundle was altered; nothing imported");
        }

        content.Blobs[digest.Value] = size;
    }

    private static async Task<byte[]> ReadSmallAsync(TarEntry entry, int limit, CancellationToken cancellationToken)
    {
        if (entry.Length > limit)
        {
            throw new BundleException($"{entry.Name} is {entry.Length} bytes, more than {limit}; nothing imported");
        }

        var bytes = new byte[entry.Length];
        if (entry.DataStream is { } s)
        {
            await s.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
        }

        return bytes;
    }

    private (IReadOnlyList<ImageManifest> Images, string? Channel) Check(ArchiveContent content)
    {
        if (content.Index is null)
        {
            throw new BundleException($"bundle has no {BundleFormat.IndexEntry}; nothing imported");
        }

        if (content.Signature is null)
        {
            throw new BundleException($"bundle is not signed (no {BundleFormat.SignatureEntry}); nothing imported");
        }

        content.SignerId = VerifySignature(content.Index, content.Signature);

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(content.Index);
        }
        catch (JsonException e)
        {
            throw new BundleException($"{BundleFormat.IndexEntry} is not valid JSON ({e.Message}); nothing imported", e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var f) || f.ValueKind != JsonValueKind.String || f.GetString() != BundleFormat.FormatName)
            {
                throw new BundleException($"{BundleFormat.IndexEntry} is not a {BundleFormat.FormatName} index; nothing imported");
            }

            var listed = new Dictionary<Sha256Digest, long>();
            if (root.TryGetProperty("blobs", out var blobs) && blobs.ValueKind == JsonValueKind.Array)
            {
                foreach (var b in blobs.EnumerateArray())
                {
                    if (b.ValueKind != JsonValueKind.Object || !b.TryGetProperty("digest", out var d) || d.ValueKind != JsonValueKind.String
                        || !Sha256Digest.TryParse(d.GetString(), out var digest) || !b.TryGetProperty("size", out var s) || !s.TryGetInt64(out var size))
                    {
                        throw new BundleException($"{BundleFormat.IndexEntry}: malformed blob entry; nothing imported");
                    }

                    listed[digest.Value] = size;
                }
            }

            foreach (var (digest, size) in listed)
            {
                if (!content.Blobs.TryGetValue(digest, out var actual))
                {
                    throw new BundleException($"blob {digest} is listed in {BundleFormat.IndexEntry} but missing from the bundle; nothing imported");
                }

                if (actual != size)
                {
                    throw new BundleException($"blob {digest} is {actual} bytes, {BundleFormat.IndexEntry} says {size}; nothing imported");
                }
            }

            foreach (var digest in content.Blobs.Keys)
            {
                if (!listed.ContainsKey(digest))
                {
                    throw new BundleException($"blob {digest} is in the bundle but not listed in the signed {BundleFormat.IndexEntry}; nothing imported");
                }
            }

            var images = new List<ImageManifest>();
            if (!root.TryGetProperty("images", out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            {
                throw new BundleException($"{BundleFormat.IndexEntry} lists no images; nothing imported");
            }

            foreach (var item in list.EnumerateArray())
            {
                var m = ManifestJson.TryRead(item, out var error) ?? throw new BundleException($"{BundleFormat.IndexEntry}: {error}; nothing imported");
                foreach (var (kind, digest, size) in new[] { ("kernel", m.Kernel, m.KernelSize), ("initrd", m.Initrd, m.InitrdSize), ("rootfs", m.Rootfs ?? default, m.RootfsSize ?? 0) })
                {
                    if (kind == "rootfs" && m.Rootfs is null)
                    {
                        continue;
                    }

                    if (!content.Blobs.TryGetValue(digest, out var actual))
                    {
                        throw new BundleException($"image {m.Key} names {kind} blob {digest}, which is not in the bundle; nothing imported");
                    }

                    if (actual != size)
                    {
                        throw new BundleException($"image {m.Key}: {kind} blob {digest} is {actual} bytes, the manifest says {size}; nothing imported");
                    }
                }

                if (images.Any(i => i.Key == m.Key))
                {
                    throw new BundleException($"image {m.Key} appears twice in {BundleFormat.IndexEntry}; nothing imported");
                }

                images.Add(m);
            }

            var channel = root.TryGetProperty("channel", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
            return (images, channel);
        }
    }

    private string VerifySignature(byte[] index, byte[] signatureFile)
    {
        string? algorithm, keyId, signature;
        try
        {
            using var doc = JsonDocument.Parse(signatureFile);
            var r = doc.RootElement;
            algorithm = r.TryGetProperty("algorithm", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
            keyId = r.TryGetProperty("keyId", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
            signature = r.TryGetProperty("signature", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        }
        catch (JsonException e)
        {
            throw new BundleException($"{BundleFormat.SignatureEntry} is not valid JSON ({e.Message}); nothing imported", e);
        }

        if (algorithm is null || keyId is null || signature is null || BundleSignatureAlgorithmNames.FromText(algorithm) is not { } alg)
        {
            throw new BundleException($"{BundleFormat.SignatureEntry} needs algorithm (ed25519 or ecdsa-p256-sha256), keyId and signature; nothing imported");
        }

        var key = _trusted.Find(keyId)
            ?? throw new BundleException($"bundle is signed by key {keyId}, which is not among the {_trusted.Keys.Count} trusted keys in {_trusted.Directory}; nothing imported");
        byte[] raw;
        try
        {
            raw = Convert.FromBase64String(signature);
        }
        catch (FormatException e)
        {
            throw new BundleException($"{BundleFormat.SignatureEntry}: signature is not base64; nothing imported", e);
        }

        if (key.Algorithm != alg || !key.Verify(index, raw))
        {
            throw new BundleException($"signature does not verify with trusted key {keyId} ({key.Source}): {BundleFormat.IndexEntry} was altered or signed by another key; nothing imported");
        }

        return keyId;
    }
}

/// <summary>What a bundle import did.</summary>
public sealed record BundleImportResult(IReadOnlyList<ImageManifest> Images, IReadOnlyList<ImageManifest> Added, string? Channel, string SignerId, int BlobsWritten);
