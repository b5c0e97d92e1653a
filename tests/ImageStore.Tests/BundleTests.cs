using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Kldload.ImageStore.Tests;

public sealed class BundleTests : IDisposable
{
    private readonly TestStore _source = new();
    private readonly TestStore _target = new();
    private readonly string _keys;
    private readonly string _trustedDir;

    public BundleTests()
    {
        _keys = Path.Combine(_source.Dir, "keys");
        _trustedDir = Path.Combine(_target.Dir, "trusted");
        Directory.CreateDirectory(_keys);
        Directory.CreateDirectory(_trustedDir);
        var (priv, pub) = BundleSigningKey.CreateEd25519();
        File.WriteAllText(Path.Combine(_keys, "site.key"), priv);
        File.WriteAllText(Path.Combine(_trustedDir, "site.pub"), pub);
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(Path.Combine(_keys, "ec.key"), ec.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(_trustedDir, "ec.pem"), ec.ExportSubjectPublicKeyInfoPem());
        var (otherPriv, _) = BundleSigningKey.CreateEd25519();
        File.WriteAllText(Path.Combine(_keys, "untrusted.key"), otherPriv);
    }

    public void Dispose()
    {
        _source.Dispose();
        _target.Dispose();
    }

    private TrustedKeys Trusted => TrustedKeys.Load(_trustedDir);

    private async Task<(ImageManifest Image, string Bundle)> ExportAsync(string fileName, string key = "site.key", bool rootfs = false)
    {
        var dir = _source.MakeImageDir("live", rootfs: rootfs);
        var m = (await _source.ImportAsync("live", "7", dir)).Images[0];
        _source.Store.Catalog.Promote("stable", m.Key, "ci");
        var bundle = Path.Combine(_source.Dir, fileName);
        using var signer = BundleSigningKey.Load(Path.Combine(_keys, key));
        await _source.Store.ExportAsync([m], bundle, signer, "stable");
        return (m, bundle);
    }

    [Theory]
    [InlineData("b.tar", "site.key")]
    [InlineData("b.tar.gz", "site.key")]
    [InlineData("b.tar.zst", "ec.key")]
    public async Task ImportBundle_ExportedBundle_SameImageAndBytes(string fileName, string key)
    {
        var (m, bundle) = await ExportAsync(fileName, key, rootfs: true);
        var result = await _target.Store.ImportBundleAsync(bundle, Trusted, "test");
        Assert.Equal("stable", result.Channel);
        var imported = _target.Store.Catalog.Get(m.Key)!;
        Assert.True(imported.SameContentAs(m));
        foreach (var d in m.Blobs)
        {
            Assert.Equal(await File.ReadAllBytesAsync(_source.Store.Blobs.PathOf(d)), await File.ReadAllBytesAsync(_target.Store.Blobs.PathOf(d)));
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(_target.Store.StagingRoot));
    }

    [Fact]
    public async Task ImportBundle_FlippedByteInBlob_RefusedStoreUnchanged()
    {
        var (m, bundle) = await ExportAsync("b.tar");
        var bytes = await File.ReadAllBytesAsync(bundle);
        var at = IndexOf(bytes, await File.ReadAllBytesAsync(_source.Store.Blobs.PathOf(m.Initrd)));
        bytes[at + 1000] ^= 0x01;
        await File.WriteAllBytesAsync(bundle, bytes);
        await AssertRefusedAsync(bundle, $"blob {m.Initrd} does not match its content");
    }

    [Theory]
    [InlineData("b.tar.gz", "gzip")]
    [InlineData("b.tar.zst", "zstd")]
    public async Task ImportBundle_FlippedByteInCompressedBundle_RefusedUnlessContentIdentical(string fileName, string peer)
    {
        // A flip changes the archive's content (then the gzip CRC or zstd checksum, or the
        // signature and hashes, refuse it) or it hits a bit the format ignores (gzip's mtime, some
        // zstd header bits): then the content is the original and importing it is harmless. The
        // real gzip/zstd tools decide which case each flip is.
        var (m, bundle) = await ExportAsync(fileName);
        var original = await File.ReadAllBytesAsync(bundle);
        var content = await DecompressWithPeerAsync(peer, bundle);
        Assert.NotNull(content);
        var flipped = Path.Combine(_source.Dir, "flipped-" + fileName);
        var positions = Enumerable.Range(0, 40).Select(k => (int)((long)original.Length * k / 40)).Concat(Enumerable.Range(1, 8).Select(k => original.Length - k));
        var refused = 0;
        foreach (var at in positions)
        {
            var bytes = (byte[])original.Clone();
            bytes[at] ^= 0x10;
            await File.WriteAllBytesAsync(flipped, bytes);
            var same = await DecompressWithPeerAsync(peer, flipped) is { } c && c.AsSpan().SequenceEqual(content);
            if (same)
            {
                await _target.Store.ImportBundleAsync(flipped, Trusted, "test");
                Assert.True(_target.Store.Catalog.Get(m.Key)!.SameContentAs(m));
                continue;
            }

            var before = _target.Snapshot();
            var e = await Assert.ThrowsAsync<BundleException>(() => _target.Store.ImportBundleAsync(flipped, Trusted, "test"));
            Assert.Contains("nothing imported", e.Message, StringComparison.Ordinal);
            Assert.Equal(before, _target.Snapshot());
            refused++;
        }

        Assert.True(refused > 30, $"only {refused} flips changed the content");
    }

    private static async Task<byte[]?> DecompressWithPeerAsync(string tool, string path)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-dc");
        psi.ArgumentList.Add(path);
        using var p = System.Diagnostics.Process.Start(psi)!;
        using var ms = new MemoryStream();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(ms);
        var err = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        await copy;
        await err;
        return p.ExitCode == 0 ? ms.ToArray() : null;
    }

    [Fact]
    public async Task ImportBundle_AnySingleByteFlippedInPlainBundle_Refused()
    {
        // Small blobs keep the archive short (12 blocks): every 7th byte of it is flipped, one at a time,
        // which hits every header field, the signed index, the signature, both blobs and the padding.
        var dir = Path.Combine(_source.Dir, "tiny");
        Directory.CreateDirectory(dir);
        await File.WriteAllBytesAsync(Path.Combine(dir, "kernel"), RandomNumberGenerator.GetBytes(700));
        await File.WriteAllBytesAsync(Path.Combine(dir, "initrd"), RandomNumberGenerator.GetBytes(300));
        var m = (await _source.ImportAsync("tiny", "1", dir)).Images[0];
        var bundle = Path.Combine(_source.Dir, "tiny.tar");
        using (var signer = BundleSigningKey.Load(Path.Combine(_keys, "site.key")))
        {
            await _source.Store.ExportAsync([m], bundle, signer, null);
        }

        var original = await File.ReadAllBytesAsync(bundle);
        var flipped = Path.Combine(_source.Dir, "flipped.tar");
        var accepted = new List<int>();
        for (var i = 0; i < original.Length; i += 7)
        {
            var bytes = (byte[])original.Clone();
            bytes[i] ^= 0x01;
            await File.WriteAllBytesAsync(flipped, bytes);
            try
            {
                await _target.Store.ImportBundleAsync(flipped, Trusted, "test");
                accepted.Add(i);
            }
            catch (BundleException)
            {
            }
        }

        Assert.True(accepted.Count == 0, $"{original.Length} bytes; accepted flips at: {string.Join(",", accepted)}");
        Assert.Empty(_target.Store.Catalog.List());
        Assert.Empty(_target.Store.Blobs.Enumerate());
    }

    [Fact]
    public async Task ImportBundle_DataAfterEndOfArchive_Refused()
    {
        var (_, bundle) = await ExportAsync("b.tar");
        var bytes = await File.ReadAllBytesAsync(bundle);
        bytes[^3] = 0x41;
        await File.WriteAllBytesAsync(bundle, bytes);
        await AssertRefusedAsync(bundle, "data follows the end of the tar archive");
    }

    [Fact]
    public async Task ImportBundle_IndexAltered_SignatureRefused()
    {
        var (_, bundle) = await ExportAsync("b.tar");
        var entries = ReadEntries(bundle);
        entries["bundle.json"] = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(entries["bundle.json"]).Replace("\"cmdline\": \"\"", "\"cmdline\": \"init=/bin/sh\"", StringComparison.Ordinal));
        WriteEntries(bundle, entries);
        await AssertRefusedAsync(bundle, "signature does not verify");
    }

    [Fact]
    public async Task ImportBundle_NoSignature_Refused()
    {
        var (_, bundle) = await ExportAsync("b.tar");
        var entries = ReadEntries(bundle);
        entries.Remove("bundle.sig");
        WriteEntries(bundle, entries);
        await AssertRefusedAsync(bundle, "not signed");
    }

    [Fact]
    public async Task ImportBundle_UntrustedKey_Refused()
    {
        var (_, bundle) = await ExportAsync("b.tar", "untrusted.key");
        await AssertRefusedAsync(bundle, "not among the 2 trusted keys");
    }

    [Fact]
    public async Task ImportBundle_BlobReplacedUnderSameName_Refused()
    {
        var (m, bundle) = await ExportAsync("b.tar");
        var entries = ReadEntries(bundle);
        entries["blobs/" + m.Kernel] = RandomNumberGenerator.GetBytes((int)m.KernelSize);
        WriteEntries(bundle, entries);
        await AssertRefusedAsync(bundle, $"blob {m.Kernel} does not match its content");
    }

    [Fact]
    public async Task ImportBundle_ManifestNamesMissingBlob_Refused()
    {
        var (m, bundle) = await ExportAsync("b.tar");
        var entries = ReadEntries(bundle);
        entries.Remove("blobs/" + m.Initrd);
        var index = JsonNode.Parse(entries["bundle.json"])!.AsObject();
        var blobs = index["blobs"]!.AsArray();
        blobs.Remove(blobs.First(b => (string)b!["digest"]! == m.Initrd.ToString()));
        ResignIndex(entries, Encoding.UTF8.GetBytes(index.ToJsonString()));
        WriteEntries(bundle, entries);
        await AssertRefusedAsync(bundle, $"image live/7 names initrd blob {m.Initrd}, which is not in the bundle");
    }

    [Theory]
    [InlineData("../evil")]
    [InlineData("/etc/evil")]
    [InlineData("blobs/../../evil")]
    public async Task ImportBundle_PathEscapesRoot_Refused(string name)
    {
        var (_, bundle) = await ExportAsync("b.tar");
        var entries = ReadEntries(bundle);
        entries[name] = [1, 2, 3];
        WriteEntries(bundle, entries);
        await AssertRefusedAsync(bundle, "escapes the archive root");
        Assert.False(File.Exists(Path.Combine(_target.Dir, "evil")));
    }

    [Fact]
    public async Task ImportBundle_ExtraUnlistedBlob_Refused()
    {
        var (_, bundle) = await ExportAsync("b.tar");
        var entries = ReadEntries(bundle);
        var extra = RandomNumberGenerator.GetBytes(64);
        entries["blobs/" + Sha256Digest.Of(extra)] = extra;
        WriteEntries(bundle, entries);
        await AssertRefusedAsync(bundle, "not listed in the signed bundle.json");
    }

    private async Task AssertRefusedAsync(string bundle, string expected)
    {
        // The target already holds an image, so "unchanged" is checked against a non-empty store.
        await _target.ImportAsync("resident", "1");
        var before = _target.Snapshot();
        var e = await Assert.ThrowsAsync<BundleException>(() => _target.Store.ImportBundleAsync(bundle, Trusted, "test"));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(before, _target.Snapshot());
        Assert.Empty(Directory.EnumerateFileSystemEntries(_target.Store.StagingRoot));
        Assert.Empty(Directory.EnumerateFiles(_target.Store.Blobs.Root, BlobStore.TempPrefix + "*"));
    }

    private void ResignIndex(Dictionary<string, byte[]> entries, byte[] index)
    {
        using var key = BundleSigningKey.Load(Path.Combine(_keys, "site.key"));
        entries["bundle.json"] = index;
        entries["bundle.sig"] = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["algorithm"] = "ed25519",
            ["keyId"] = key.Id,
            ["signature"] = Convert.ToBase64String(key.Sign(index)),
        }.ToJsonString());
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        var at = haystack.AsSpan().IndexOf(needle.AsSpan(0, 256));
        Assert.True(at >= 0);
        return at;
    }

    private static Dictionary<string, byte[]> ReadEntries(string path)
    {
        var result = new Dictionary<string, byte[]>();
        using var reader = new TarReader(File.OpenRead(path));
        while (reader.GetNextEntry(copyData: true) is { } e)
        {
            using var ms = new MemoryStream();
            e.DataStream?.CopyTo(ms);
            result[e.Name] = ms.ToArray();
        }

        return result;
    }

    private static void WriteEntries(string path, Dictionary<string, byte[]> entries)
    {
        using var file = File.Create(path);
        using var writer = new TarWriter(file, TarEntryFormat.Gnu);
        foreach (var (name, data) in entries)
        {
            writer.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) });
        }
    }
}
