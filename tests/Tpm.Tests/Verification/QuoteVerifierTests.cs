using System.Security.Cryptography;
using Kldload.Tpm.Device;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Tests.Device;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Tests.Verification;

public class QuoteVerifierTests
{
    private static readonly TpmlPcrSelection Pcr0To7 = TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 1, 2, 3, 4, 5, 6, 7);

    /// <summary>The captured RSA quote (vectors.json log 18) and PCR values (log 19).</summary>
    private static (TpmtPublic Ak, TpmQuote Quote, byte[] Nonce, IReadOnlyDictionary<(TpmAlgId, int), byte[]> Pcrs) Captured()
    {
        using var tpm = new Tpm2(new ScriptedTransport().ExpectLog(18).ExpectLog(19));
        var nonce = SHA256.HashData("server-nonce"u8);
        var quote = tpm.Quote(0x80000001, nonce, Pcr0To7);
        var pcrs = tpm.PcrRead(Pcr0To7);
        return (TpmMarshal.Read<TpmtPublic>(TestVectors.Hex("ak_rsa", "tpmt")), quote, nonce, pcrs);
    }

    [Fact]
    public void Verify_CapturedRsaQuote_Passes()
    {
        var (ak, quote, nonce, pcrs) = Captured();
        AkPolicy.Validate(ak);
        var attest = QuoteVerifier.Verify(ak, quote.AttestBytes, quote.Signature, nonce, Pcr0To7, pcrs);
        Assert.Equal(TestVectors.Hex("quote_rsa", "pcrDigest"), attest.Quote.PcrDigest);
    }

    [Fact]
    public void Verify_ToolsQuoteWithEventLogReplay_Passes()
    {
        // tpm2_quote output (files/quote.*) after the synthetic event log was extended into PCRs 0, 1, 4, 7.
        var ak = TpmMarshal.Read<Tpm2bPublic>(TestVectors.File("ak.pub")).Public;
        var sig = TpmMarshal.Read<TpmtSignature>(TestVectors.File("quote.sig"));
        var nonce = Convert.FromHexString(File.ReadAllText(TestVectors.PathOf("files/quote.nonce")).Trim());
        var values = new Dictionary<(TpmAlgId, int), byte[]>();
        for (var i = 0; i < 8; i++)
        {
            values[(TpmAlgId.Sha256, i)] = new byte[32];
        }

        foreach (var (slot, value) in TcgEventLog.Parse(TestVectors.File("eventlog.bin")).Replay(TpmAlgId.Sha256))
        {
            values[slot] = value;
        }

        QuoteVerifier.Verify(ak, TestVectors.File("quote.msg"), sig, nonce, Pcr0To7, values);
    }

    [Fact]
    public void Verify_WrongNonce_NonceMismatch()
    {
        var (ak, quote, nonce, pcrs) = Captured();
        nonce[0] ^= 1;
        var e = Assert.Throws<AttestationException>(() => QuoteVerifier.Verify(ak, quote.AttestBytes, quote.Signature, nonce, Pcr0To7, pcrs));
        Assert.Equal(AttestationFailure.NonceMismatch, e.Failure);
    }

    [Fact]
    public void Verify_EveryFlippedBitInAttest_SignatureInvalid()
    {
        var (ak, quote, nonce, pcrs) = Captured();
        for (var bit = 0; bit < quote.AttestBytes.Length * 8; bit += 7)
        {
            var bytes = (byte[])quote.AttestBytes.Clone();
            bytes[bit / 8] ^= (byte)(1 << (bit % 8));
            var e = Assert.Throws<AttestationException>(() => QuoteVerifier.Verify(ak, bytes, quote.Signature, nonce, Pcr0To7, pcrs));
            Assert.Equal(AttestationFailure.SignatureInvalid, e.Failure);
        }
    }

    [Fact]
    public void Verify_FlippedBitInSignature_SignatureInvalid()
    {
        var (ak, quote, nonce, pcrs) = Captured();
        var sig = quote.Signature with { Signature = (byte[])quote.Signature.Signature.Clone() };
        sig.Signature[100] ^= 0x10;
        var e = Assert.Throws<AttestationException>(() => QuoteVerifier.Verify(ak, quote.AttestBytes, sig, nonce, Pcr0To7, pcrs));
        Assert.Equal(AttestationFailure.SignatureInvalid, e.Failure);
    }

    [Fact]
    public void Verify_SignatureSchemeChanged_SchemeMismatch()
    {
        var (ak, quote, nonce, pcrs) = Captured();
        var sig = quote.Signature with { SigAlg = TpmAlgId.RsaPss };
        var e = Assert.Throws<AttestationException>(() => QuoteVerifier.Verify(ak, quote.AttestBytes, sig, nonce, Pcr0To7, pcrs));
        Assert.Equal(AttestationFailure.SignatureSchemeMismatch, e.Failure);
    }

    [Fact]
    public void Verify_TamperedPcrValue_PcrDigestMismatch()
    {
        var (ak, quote, nonce, pcrs) = Captured();
        var tampered = pcrs.ToDictionary(p => p.Key, p => (byte[])p.Value.Clone());
        tampered[(TpmAlgId.Sha256, 4)][0] ^= 1;
        var e = Assert.Throws<AttestationException>(() => QuoteVerifier.Verify(ak, quote.AttestBytes, quote.Signature, nonce, Pcr0To7, tampered));
        Assert.Equal(AttestationFailure.PcrDigestMismatch, e.Failure);
    }

    [Fact]
    public void Verify_MissingPcrValue_PcrValueMissing()
    {
        var (ak, quote, nonce, pcrs) = Captured();
        var partial = pcrs.Where(p => p.Key.Item2 != 7).ToDictionary();
        var e = Assert.Throws<AttestationException>(() => QuoteVerifier.Verify(ak, quote.AttestBytes, quote.Signature, nonce, Pcr0To7, partial));
        Assert.Equal(AttestationFailure.PcrValueMissing, e.Failure);
    }

    [Fact]
    public void Verify_OtherRequestedSelection_PcrSelectionMismatch()
    {
        var (ak, quote, nonce, pcrs) = Captured();
        var e = Assert.Throws<AttestationException>(() =>
            QuoteVerifier.Verify(ak, quote.AttestBytes, quote.Signature, nonce, TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 1, 2, 3, 4, 5, 6, 7, 8), pcrs));
        Assert.Equal(AttestationFailure.PcrSelectionMismatch, e.Failure);
    }

    [Fact]
    public void Verify_OtherAk_SignatureInvalid()
    {
        var (_, quote, nonce, pcrs) = Captured();
        var other = TpmMarshal.Read<Tpm2bPublic>(TestVectors.File("ak.pub")).Public;
        var e = Assert.Throws<AttestationException>(() => QuoteVerifier.Verify(other, quote.AttestBytes, quote.Signature, nonce, Pcr0To7, pcrs));
        Assert.Equal(AttestationFailure.SignatureInvalid, e.Failure);
    }

    [Fact]
    public void Verify_EveryTruncationOfAttest_Refused()
    {
        var (ak, quote, nonce, pcrs) = Captured();
        for (var n = 0; n < quote.AttestBytes.Length; n++)
        {
            Assert.Throws<AttestationException>(() => QuoteVerifier.Verify(ak, quote.AttestBytes.AsSpan(0, n), quote.Signature, nonce, Pcr0To7, pcrs));
        }
    }

    [Fact]
    public void Verify_SoftwareSignedBadMagic_BadMagic()
    {
        // A key we hold signs a TPMS_ATTEST with a wrong magic: the signature passes, the magic does not.
        using var rsa = RSA.Create(2048);
        var p = rsa.ExportParameters(false);
        var ak = TpmTemplates.AkRsa2048().WithUnique(p.Modulus!);
        var (_, quote, nonce, pcrs) = Captured();
        var bytes = (byte[])quote.AttestBytes.Clone();
        bytes[0] = 0;
        var sig = TpmtSignature.Rsa(TpmAlgId.RsaSsa, TpmAlgId.Sha256, rsa.SignData(bytes, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        var e = Assert.Throws<AttestationException>(() => QuoteVerifier.Verify(ak, bytes, sig, nonce, Pcr0To7, pcrs));
        Assert.Equal(AttestationFailure.BadMagic, e.Failure);
    }

    [Fact]
    public void Verify_SoftwareSignedEcdsaQuote_Passes()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var q = ecdsa.ExportParameters(false).Q;
        var ak = TpmTemplates.AkEccP256().WithUnique(q.X!, q.Y!);
        var (_, quote, nonce, pcrs) = Captured();
        var rs = ecdsa.SignData(quote.AttestBytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        var sig = TpmtSignature.Ecc(TpmAlgId.EcDsa, TpmAlgId.Sha256, rs[..32], rs[32..]);
        QuoteVerifier.Verify(ak, quote.AttestBytes, sig, nonce, Pcr0To7, pcrs);
    }

    public static TheoryData<TpmaObject, bool, AttestationFailure> AkAttributeCases => new()
    {
        { TpmaObject.Restricted, false, AttestationFailure.AkNotRestricted },
        { TpmaObject.Decrypt, true, AttestationFailure.AkCanDecrypt },
        { TpmaObject.FixedTpm, false, AttestationFailure.AkNotFixedTpm },
        { TpmaObject.FixedParent, false, AttestationFailure.AkNotFixedParent },
        { TpmaObject.SensitiveDataOrigin, false, AttestationFailure.AkNotSensitiveDataOrigin },
        { TpmaObject.Sign, false, AttestationFailure.AkNotSigning },
    };

    [Theory]
    [MemberData(nameof(AkAttributeCases))]
    public void AkPolicy_WrongAttribute_SpecificFailure(TpmaObject attribute, bool set, AttestationFailure expected)
    {
        var good = TpmMarshal.Read<TpmtPublic>(TestVectors.Hex("ak_rsa", "tpmt"));
        AkPolicy.Validate(good);
        var attributes = set ? good.ObjectAttributes | attribute : good.ObjectAttributes & ~attribute;
        var bad = new TpmtPublic
        {
            Type = good.Type,
            NameAlg = good.NameAlg,
            ObjectAttributes = attributes,
            Scheme = good.Scheme,
            Symmetric = good.Symmetric,
            RsaKeyBits = good.RsaKeyBits,
            Unique = good.Unique,
        };
        Assert.Equal(expected, Assert.Throws<AttestationException>(() => AkPolicy.Validate(bad)).Failure);
    }

    [Fact]
    public void AkPolicy_EkAsAk_Refused()
    {
        var ek = TpmMarshal.Read<TpmtPublic>(TestVectors.Hex("ek_rsa", "tpmt"));
        Assert.Equal(AttestationFailure.AkNotSigning, Assert.Throws<AttestationException>(() => AkPolicy.Validate(ek)).Failure);
    }
}
