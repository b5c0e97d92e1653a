using System.Text.Json;

namespace Kldload.ImageStore;

/// <summary>
/// Owns the decision whether a bundle read by <see cref="BundleArchiveReader"/> is authentic and
/// complete: the detached signature over the exact index bytes, by a key in <see cref="TrustedKeys"/>;
/// the index format; every blob listed is present with its listed size and none is unlisted; every
/// manifest names only blobs the bundle holds, with their sizes. It reads no file and changes no store.
/// </summary>
internal sealed class BundleVerifier(TrustedKeys trusted)
{
    private static readonly SignedEntries SignedEntries = new("bundle", BundleFormat.IndexEntry, BundleFormat.SignatureEntry, "; nothing imported");

    /// <summary>
    /// Checks <paramref name="content"/> and returns what it carries. Throws <see cref="BundleException"/>
    /// naming the first check that fails.
    /// </summary>
    public VerifiedBundle Verify(BundleArchive content)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (content.Index is null)
        {
            throw new BundleException($"bundle has no {BundleFormat.IndexEntry}; nothing imported");
        }

        if (content.Signature is null)
        {
            throw new BundleException($"bundle is not signed (no {BundleFormat.SignatureEntry}); nothing imported");
        }

        var signerId = BundleSignature.Verify(content.Index, content.Signature, trusted, SignedEntries);

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
            return new VerifiedBundle(images, channel, signerId);
        }
    }
}

/// <summary>A bundle that passed <see cref="BundleVerifier"/>: its images, channel and signer.</summary>
internal sealed record VerifiedBundle(IReadOnlyList<ImageManifest> Images, string? Channel, string SignerId);
