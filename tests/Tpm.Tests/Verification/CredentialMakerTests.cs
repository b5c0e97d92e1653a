using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Tests.Verification;

public class CredentialMakerTests
{
    [Fact]
    public void KdfA_SanityVector_MatchesCapture()
    {
        var u = Convert.FromHexString("000b" + string.Concat(Enumerable.Repeat("11", 32)));
        var key = TpmKdf.KdfA(TpmAlgId.Sha256, new byte[32], "STORAGE", u, [], 128);
        Assert.Equal("1c5966b3ab8da6837046d354bc3c152d", Convert.ToHexStringLower(key));
    }

    [Fact]
    public void KdfA_LongerThanOneBlock_ConcatenatesCounterBlocks()
    {
        var key = TpmKdf.KdfA(TpmAlgId.Sha256, new byte[32], "X", [], [], 512);
        Assert.Equal(64, key.Length);
        Assert.NotEqual(key[..32], key[32..]);
    }

    [Fact]
    public void Protect_RsaKnownSeed_MatchesCapturedIdObject()
    {
        var ek = TpmMarshal.Read<TpmtPublic>(TestVectors.Hex("ek_rsa", "tpmt"));
        var akName = TestVectors.Hex("ak_rsa", "name");
        var seed = TestVectors.Hex("makecred_rsa", "seed");
        var made = CredentialMaker.MakeRsa(ek, akName, TestVectors.Hex("makecred_rsa", "secret"), seed);
        Assert.Equal(TestVectors.Hex("makecred_rsa", "integrityHMAC"), made.CredentialBlob.IntegrityHmac);
        Assert.Equal(TestVectors.Hex("makecred_rsa", "encIdentity"), made.CredentialBlob.EncIdentity);
        Assert.Equal(256, made.Secret.Secret.Length);
    }

    [Fact]
    public void MakeEcc_KnownEphemeralKey_MatchesCapturedCredential()
    {
        var ek = TpmMarshal.Read<TpmtPublic>(TestVectors.Hex("ek_ecc", "tpmt"));
        var akName = TestVectors.Hex("ak_ecc", "name");
        var made = CredentialMaker.MakeEcc(ek, akName, TestVectors.Hex("makecred_ecc", "secret"), TestVectors.Hex("makecred_ecc", "ephemeralPrivate"));
        Assert.Equal(TestVectors.Hex("makecred_ecc", "encSecret"), made.Secret.Secret);
        var id = TestVectors.Hex("makecred_ecc", "idObject");
        Assert.Equal(id, TpmMarshal.ToBytes(made.CredentialBlob)[2..]);
    }

    [Fact]
    public void Make_RsaTwice_RandomizedSeed()
    {
        var ek = TpmMarshal.Read<TpmtPublic>(TestVectors.Hex("ek_rsa", "tpmt"));
        var a = CredentialMaker.Make(ek, TestVectors.Hex("ak_rsa", "name"), new byte[32]);
        var b = CredentialMaker.Make(ek, TestVectors.Hex("ak_rsa", "name"), new byte[32]);
        Assert.NotEqual(a.Secret.Secret, b.Secret.Secret);
    }

    [Fact]
    public void Make_SecretLongerThanDigest_Throws()
    {
        var ek = TpmMarshal.Read<TpmtPublic>(TestVectors.Hex("ek_rsa", "tpmt"));
        Assert.Throws<ArgumentException>(() => CredentialMaker.Make(ek, TestVectors.Hex("ak_rsa", "name"), new byte[33]));
    }

    [Fact]
    public void Make_SigningKeyAsEk_RefusedAsUnsupported()
    {
        var ak = TpmMarshal.Read<TpmtPublic>(TestVectors.Hex("ak_rsa", "tpmt"));
        var e = Assert.Throws<AttestationException>(() => CredentialMaker.Make(ak, TestVectors.Hex("ak_rsa", "name"), new byte[32]));
        Assert.Equal(AttestationFailure.EkUnsupported, e.Failure);
    }

    [Fact]
    public void ToolsFile_CapturedBlob_RoundTrips()
    {
        var file = TestVectors.File("cred.blob");
        var made = MadeCredential.FromToolsFile(file);
        Assert.Equal(file, made.ToToolsFile());
        for (var n = 0; n < file.Length; n++)
        {
            Assert.Throws<AttestationException>(() => MadeCredential.FromToolsFile(file.AsSpan(0, n)));
        }
    }
}
