using System.Text;
using System.Text.Json.Nodes;

namespace Kldload.ImageStore.Tests;

/// <summary>
/// The verifier alone, on archives built in memory: the signature, the blob list and the manifests'
/// references. No file is read and no store changes.
/// </summary>
public sealed class BundleVerifierTests : IDisposable
{
    private readonly TestStore _source = new();
    private readonly string _trustedDir;
    private readonly BundleSigningKey _signer;
    private readonly BundleSigningKey _stranger;

    public BundleVerifierTests()
    {
        _trustedDir = Path.Combine(_source.Dir, "trusted");
        Directory.CreateDirectory(_trustedDir);
        var (priv, pub) = BundleSigningKey.CreateEd25519();
        File.WriteAllText(Path.Combine(_source.Dir, "site.key"), priv);
        File.WriteAllText(Path.Combine(_trustedDir, "site.pub"), pub);
        _signer = BundleSigningKey.Load(Path.Combine(_source.Dir, "site.key"));
        var (otherPriv, _) = BundleSigningKey.CreateEd25519();
        File.WriteAllText(Path.Combine(_source.Dir, "other.key"), otherPriv);
        _stranger = BundleSigningKey.Load(Path.Combine(_source.Dir, "other.key"));
    }

    public void Dispose()
    {
        _signer.Dispose();
        _stranger.Dispose();
        _source.Dispose();
    }

    private BundleVerifier Verifier => new(TrustedKeys.Load(_trustedDir));

    private async Task<ImageManifest> ImageAsync() => (await _source.ImportAsync("live", "1")).Images[0];

    private static byte[] Index(ImageManifest m, IEnumerable<(Sha256Digest Digest, long Size)> blobs, string format = BundleFormat.FormatName) =>
        Encoding.UTF8.GetBytes(new JsonObject
        {
            ["format"] = format,
            ["channel"] = "stable",
            ["images"] = new JsonArray(ManifestJson.Write(m)),
            ["blobs"] = new JsonArray(blobs.Select(b => (JsonNode)new JsonObject { ["digest"] = b.Digest.ToString(), ["size"] = b.Size }).ToArray()),
        }.ToJsonString());

    /// <summary>A <c>bundle.sig</c> (or <c>kit.sig</c>) by <paramref name="key"/> over <paramref name="index"/>.</summary>
    internal static byte[] Signature(BundleSigningKey key, byte[] index) =>
        Encoding.UTF8.GetBytes(new JsonObject
        {
            ["algorithm"] = BundleSignatureAlgorithmNames.ToText(key.Algorithm),
            ["keyId"] = key.Id,
            ["signature"] = Convert.ToBase64String(key.Sign(index)),
        }.ToJsonString());

    private static IEnumerable<(Sha256Digest, long)> BlobsOf(ImageManifest m) => [(m.Kernel, m.KernelSize), (m.Initrd, m.InitrdSize)];

    private BundleArchive Archive(byte[] index, BundleSigningKey? key, IEnumerable<(Sha256Digest Digest, long Size)> staged)
    {
        var archive = new BundleArchive { Index = index, Signature = key is null ? null : Signature(key, index) };
        foreach (var (digest, size) in staged)
        {
            archive.Blobs[digest] = size;
        }

        return archive;
    }

    [Fact]
    public async Task Verify_SignedCompleteBundle_ReturnsImagesChannelAndSigner()
    {
        var m = await ImageAsync();
        var bundle = Verifier.Verify(Archive(Index(m, BlobsOf(m)), _signer, BlobsOf(m)));

        Assert.True(Assert.Single(bundle.Images).SameContentAs(m));
        Assert.Equal("stable", bundle.Channel);
        Assert.Equal(_signer.Id, bundle.SignerId);
    }

    [Fact]
    public async Task Verify_NoSignature_Refused()
    {
        var m = await ImageAsync();
        var e = Assert.Throws<BundleException>(() => Verifier.Verify(Archive(Index(m, BlobsOf(m)), null, BlobsOf(m))));
        Assert.Contains("not signed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_SignedByUntrustedKey_Refused()
    {
        var m = await ImageAsync();
        var e = Assert.Throws<BundleException>(() => Verifier.Verify(Archive(Index(m, BlobsOf(m)), _stranger, BlobsOf(m))));
        Assert.Contains($"signed by key {_stranger.Id}, which is not among", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_IndexChangedAfterSigning_Refused()
    {
        var m = await ImageAsync();
        var archive = Archive(Index(m, BlobsOf(m)), _signer, BlobsOf(m));
        archive.Index = Index(m, BlobsOf(m), format: "kldload-bundle/2");
        var e = Assert.Throws<BundleException>(() => Verifier.Verify(archive));
        Assert.Contains("signature does not verify", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_SignedIndexOfAnotherFormat_Refused()
    {
        var m = await ImageAsync();
        var e = Assert.Throws<BundleException>(() => Verifier.Verify(Archive(Index(m, BlobsOf(m), format: "tarball"), _signer, BlobsOf(m))));
        Assert.Contains("is not a kldload-bundle/1 index", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_StagedBlobNotListed_Refused()
    {
        var m = await ImageAsync();
        var extra = Sha256Digest.Of("extra"u8);
        var e = Assert.Throws<BundleException>(() => Verifier.Verify(Archive(Index(m, BlobsOf(m)), _signer, [.. BlobsOf(m), (extra, 5)])));
        Assert.Contains($"blob {extra} is in the bundle but not listed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_StagedBlobSizeDiffersFromIndex_Refused()
    {
        var m = await ImageAsync();
        var e = Assert.Throws<BundleException>(() => Verifier.Verify(Archive(Index(m, BlobsOf(m)), _signer, [(m.Kernel, m.KernelSize), (m.Initrd, m.InitrdSize + 1)])));
        Assert.Contains($"blob {m.Initrd} is {m.InitrdSize + 1} bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_ManifestNamesBlobNeitherListedNorStaged_Refused()
    {
        var m = await ImageAsync();
        IEnumerable<(Sha256Digest, long)> kernelOnly = [(m.Kernel, m.KernelSize)];
        var e = Assert.Throws<BundleException>(() => Verifier.Verify(Archive(Index(m, kernelOnly), _signer, kernelOnly)));
        Assert.Contains($"names initrd blob {m.Initrd}, which is not in the bundle", e.Message, StringComparison.Ordinal);
    }
}
