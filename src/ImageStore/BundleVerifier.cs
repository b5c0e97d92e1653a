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

        var signerId = VerifySignature(content.Index, content.Signature);

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

        var key = trusted.Find(keyId)
            ?? throw new BundleException($"bundle is signed by key {keyId}, which is not among the {trusted.Keys.Count} trusted keys in {trusted.Directory}; nothing imported");
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

/// <summary>A bundle that passed <see cref="BundleVerifier"/>: its images, channel and signer.</summary>
internal sealed record VerifiedBundle(IReadOnlyList<ImageManifest> Images, string? Channel, string SignerId);
