using System.Text;
using System.Text.Json.Nodes;

namespace Kldload.ImageStore.Tests;

/// <summary>
/// The one signature check bundles and kits share: it returns the signer and refuses every broken
/// signature file, worded with the caller's entry names.
/// </summary>
public sealed class BundleSignatureTests : IDisposable
{
    private static readonly SignedEntries Kit = new("kit", "kit.json", "kit.sig", string.Empty);
    private static readonly SignedEntries Bundle = new("bundle", BundleFormat.IndexEntry, BundleFormat.SignatureEntry, "; nothing imported");
    private static readonly byte[] Index = Encoding.UTF8.GetBytes("{\"format\":\"test\"}");

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-sig-").FullName;
    private readonly BundleSigningKey _signer;
    private readonly BundleSigningKey _stranger;

    public BundleSignatureTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "trusted"));
        var (priv, pub) = BundleSigningKey.CreateEd25519();
        File.WriteAllText(Path.Combine(_dir, "site.key"), priv);
        File.WriteAllText(Path.Combine(_dir, "trusted", "site.pub"), pub);
        _signer = BundleSigningKey.Load(Path.Combine(_dir, "site.key"));
        var (otherPriv, _) = BundleSigningKey.CreateEd25519();
        File.WriteAllText(Path.Combine(_dir, "other.key"), otherPriv);
        _stranger = BundleSigningKey.Load(Path.Combine(_dir, "other.key"));
    }

    private TrustedKeys Trusted => TrustedKeys.Load(Path.Combine(_dir, "trusted"));

    public void Dispose()
    {
        _signer.Dispose();
        _stranger.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Verify_SignedByATrustedKey_ReturnsItsId()
    {
        Assert.Equal(_signer.Id, BundleSignature.Verify(Index, Signature(_signer, Index), Trusted, Kit));
    }

    [Fact]
    public void Verify_IndexAltered_RefusedNamingTheCallersIndexEntry()
    {
        var altered = Index.ToArray();
        altered[^2] ^= 1;

        var kit = Assert.Throws<BundleException>(() => BundleSignature.Verify(altered, Signature(_signer, Index), Trusted, Kit));
        var bundle = Assert.Throws<BundleException>(() => BundleSignature.Verify(altered, Signature(_signer, Index), Trusted, Bundle));

        Assert.EndsWith(": kit.json was altered or signed by another key", kit.Message, StringComparison.Ordinal);
        Assert.EndsWith($": {BundleFormat.IndexEntry} was altered or signed by another key; nothing imported", bundle.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_UnknownKey_RefusedNamingTheSubject()
    {
        var e = Assert.Throws<BundleException>(() => BundleSignature.Verify(Index, Signature(_stranger, Index), Trusted, Kit));

        Assert.StartsWith($"kit is signed by key {_stranger.Id}, which is not among the 1 trusted keys", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json", "kit.sig is not valid JSON")]
    [InlineData("{\"algorithm\":\"rsa\",\"keyId\":\"k\",\"signature\":\"AA==\"}", "kit.sig needs algorithm (ed25519 or ecdsa-p256-sha256), keyId and signature")]
    [InlineData("{\"algorithm\":\"ed25519\",\"signature\":\"AA==\"}", "kit.sig needs algorithm (ed25519 or ecdsa-p256-sha256), keyId and signature")]
    public void Verify_BrokenSignatureFile_Refused(string file, string expected)
    {
        var e = Assert.Throws<BundleException>(() => BundleSignature.Verify(Index, Encoding.UTF8.GetBytes(file), Trusted, Kit));

        Assert.StartsWith(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_SignatureNotBase64_Refused()
    {
        var file = Encoding.UTF8.GetBytes(new JsonObject { ["algorithm"] = "ed25519", ["keyId"] = _signer.Id, ["signature"] = "not base64!" }.ToJsonString());

        var e = Assert.Throws<BundleException>(() => BundleSignature.Verify(Index, file, Trusted, Bundle));

        Assert.Equal($"{BundleFormat.SignatureEntry}: signature is not base64; nothing imported", e.Message);
        Assert.IsType<FormatException>(e.InnerException);
    }

    private static byte[] Signature(BundleSigningKey key, byte[] index) => BundleVerifierTests.Signature(key, index);
}
