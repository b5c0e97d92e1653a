using Kldload.MeshCA.Distribution;

namespace Kldload.MeshCA.Tests.Distribution;

public class PeerBundleVerifierTests
{
    [Fact]
    public void Offer_OlderEpoch_IsRefusedAndLastGoodKept()
    {
        using var mesh = new MeshFixture();
        var verifier = mesh.VerifierFor("n1");
        var e7 = SignedPeerBundle.Sign(PeerBundleTests.Sample("n1", 7), mesh.Ca);
        var e8 = SignedPeerBundle.Sign(PeerBundleTests.Sample("n1", 8), mesh.Ca);

        Assert.Equal(BundleVerdict.Accepted, verifier.Offer(e7, out _));
        Assert.Equal(BundleVerdict.Accepted, verifier.Offer(e8, out _));
        Assert.Equal(BundleVerdict.Stale, verifier.Offer(e7, out var problem));
        Assert.Contains("older", problem, StringComparison.Ordinal);
        Assert.Equal(8ul, verifier.Current!.Epoch);
        Assert.Equal(BundleVerdict.Unchanged, verifier.Offer(e8, out _));
    }

    [Fact]
    public void Offer_SameEpochDifferentContent_IsRefused()
    {
        using var mesh = new MeshFixture();
        var verifier = mesh.VerifierFor("n1");
        Assert.Equal(BundleVerdict.Accepted, verifier.Offer(SignedPeerBundle.Sign(PeerBundleTests.Sample("n1", 8), mesh.Ca), out _));
        var other = PeerBundleTests.Sample("n1", 8) with { KeyEpoch = 9 };
        Assert.Equal(BundleVerdict.Conflicting, verifier.Offer(SignedPeerBundle.Sign(other, mesh.Ca), out _));
        Assert.Equal(2u, verifier.Current!.KeyEpoch);
    }

    [Fact]
    public void Offer_BundleOfAnotherNode_IsRefused()
    {
        using var mesh = new MeshFixture();
        Assert.Equal(BundleVerdict.WrongNode, mesh.VerifierFor("n1").Offer(SignedPeerBundle.Sign(PeerBundleTests.Sample("n2"), mesh.Ca), out _));
    }

    [Fact]
    public void Offer_SignedByAnotherCa_IsRefused()
    {
        using var mesh = new MeshFixture();
        using var rogue = new MeshFixture();
        var verifier = mesh.VerifierFor("n1");
        Assert.Equal(BundleVerdict.UntrustedSigner, verifier.Offer(SignedPeerBundle.Sign(PeerBundleTests.Sample(), rogue.Ca), out _));

        // A genuine signer certificate pasted over a rogue signature does not help either.
        var forged = SignedPeerBundle.Sign(PeerBundleTests.Sample(), rogue.Ca) with { SignerCertificate = mesh.Ca.Intermediate.RawData };
        Assert.Equal(BundleVerdict.BadSignature, verifier.Offer(forged, out _));
        Assert.Null(verifier.Current);
    }

    [Fact]
    public void Offer_TamperedPayload_IsRefused()
    {
        using var mesh = new MeshFixture();
        var signed = SignedPeerBundle.Sign(PeerBundleTests.Sample(), mesh.Ca);
        var tampered = (byte[])signed.Payload.Clone();
        tampered[^5] ^= 1;
        Assert.Equal(BundleVerdict.BadSignature, mesh.VerifierFor("n1").Offer(signed with { Payload = tampered }, out _));
    }

    [Fact]
    public void Offer_NewerBundleDroppingARevokedKey_IsRefused()
    {
        using var mesh = new MeshFixture();
        var verifier = mesh.VerifierFor("n1");
        Assert.Equal(BundleVerdict.Accepted, verifier.Offer(SignedPeerBundle.Sign(PeerBundleTests.Sample("n1", 8), mesh.Ca), out _));
        var amnesty = PeerBundleTests.Sample("n1", 9) with { Revoked = [] };
        Assert.Equal(BundleVerdict.Inconsistent, verifier.Offer(SignedPeerBundle.Sign(amnesty, mesh.Ca), out _));
        var selfContradicting = PeerBundleTests.Sample("n1", 10) with { Revoked = [.. PeerBundleTests.Sample().Revoked, PeerBundleTests.Sample().Peers[1].PublicKey] };
        Assert.Equal(BundleVerdict.Inconsistent, verifier.Offer(SignedPeerBundle.Sign(selfContradicting, mesh.Ca), out _));
        Assert.Equal(8ul, verifier.Current!.Epoch);
    }

    [Fact]
    public void Offer_AfterRealRevocation_NewerBundleAccepted()
    {
        using var mesh = new MeshFixture();
        mesh.Service.Enroll("n1", MeshFixture.Ek("a"), MeshFixture.NewKey().Public, 0);
        mesh.Service.Enroll("n2", MeshFixture.Ek("b"), MeshFixture.NewKey().Public, 0);
        var verifier = mesh.VerifierFor("n1");
        var before = mesh.Service.SignedBundleFor("n1")!;
        Assert.Equal(BundleVerdict.Accepted, verifier.Offer(before, out _));
        mesh.Service.Revoke("n2");
        var verdict = verifier.Offer(mesh.Service.SignedBundleFor("n1")!, out var problem);
        Assert.True(verdict == BundleVerdict.Accepted, problem);
        Assert.Single(verifier.Current!.Revoked);
        Assert.Equal(BundleVerdict.Stale, verifier.Offer(before, out _));
    }
}
