using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Tests.Marshalling;

public class StructureTests
{
    public static TheoryData<string> PublicSections => new() { "ek_rsa", "ak_rsa", "ek_ecc", "ak_ecc", "hmac_primary" };

    [Theory]
    [MemberData(nameof(PublicSections))]
    public void TpmtPublic_GoldenVector_RoundTripsAndNameMatches(string section)
    {
        var bytes = TestVectors.Hex(section, "tpmt");
        var pub = TpmMarshal.Read<TpmtPublic>(bytes);
        Assert.Equal(bytes, pub.ToBytes());
        Assert.Equal(TestVectors.Hex(section, "name"), pub.Name());
    }

    [Theory]
    [MemberData(nameof(PublicSections))]
    public void TpmtPublic_EveryTruncation_FailsCleanly(string section)
    {
        var bytes = TestVectors.Hex(section, "tpmt");
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.False(TpmMarshal.TryRead<TpmtPublic>(bytes.AsSpan(0, n), out _, out var error));
            Assert.NotNull(error);
        }
    }

    [Fact]
    public void TpmtPublic_TrailingByte_Fails()
    {
        var bytes = TestVectors.Hex("ek_rsa", "tpmt");
        Assert.False(TpmMarshal.TryRead<TpmtPublic>([.. bytes, 0], out _, out var error));
        Assert.Contains("trailing", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ek.pub")]
    [InlineData("ak.pub")]
    [InlineData("ek_p384.pub")]
    public void Tpm2bPublic_ToolsFile_RoundTripsAndEveryTruncationFails(string file)
    {
        var bytes = TestVectors.File(file);
        var pub = TpmMarshal.Read<Tpm2bPublic>(bytes);
        Assert.Equal(bytes, pub.Public.ToSizedBytes());
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.False(TpmMarshal.TryRead<Tpm2bPublic>(bytes.AsSpan(0, n), out _, out _));
        }
    }

    [Fact]
    public void Tpm2bPublic_AkFile_NameMatchesToolsName()
    {
        var pub = TpmMarshal.Read<Tpm2bPublic>(TestVectors.File("ak.pub")).Public;
        Assert.Equal(TestVectors.File("ak.name"), pub.Name());
        Assert.Equal(TpmAlgId.RsaSsa, pub.Scheme.Scheme);
    }

    [Fact]
    public void TpmsAttest_ToolsQuote_ParsesAndRoundTrips()
    {
        var bytes = TestVectors.File("quote.msg");
        var attest = TpmMarshal.Read<TpmsAttest>(bytes);
        Assert.Equal(TpmsAttest.GeneratedValue, attest.Magic);
        Assert.Equal(TpmSt.AttestQuote, attest.Type);
        var nonce = Convert.FromHexString(System.IO.File.ReadAllText(TestVectors.PathOf("files/quote.nonce")).Trim());
        Assert.Equal(nonce, attest.ExtraData);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], attest.Quote.PcrSelect.Selections[0].Indices());
        Assert.Equal(bytes, TpmMarshal.ToBytes(attest));
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.False(TpmMarshal.TryRead<TpmsAttest>(bytes.AsSpan(0, n), out _, out _));
        }
    }

    [Fact]
    public void TpmsAttest_VectorQuote_FieldsMatchCapture()
    {
        var attest = TpmMarshal.Read<TpmsAttest>(TestVectors.Hex("quote_rsa", "attest"));
        Assert.Equal(TestVectors.Hex("quote_rsa", "qualifiedSigner"), attest.QualifiedSigner);
        Assert.Equal(TestVectors.Hex("quote_rsa", "pcrDigest"), attest.Quote.PcrDigest);
        Assert.Equal(0x2019102300163636ul, attest.FirmwareVersion);
        Assert.Equal(1743ul, attest.ClockInfo.Clock);
    }

    [Fact]
    public void TpmsAttest_WrongType_FailsWithReason()
    {
        var bytes = TestVectors.File("quote.msg");
        bytes[5] = 0x17;
        Assert.False(TpmMarshal.TryRead<TpmsAttest>(bytes, out _, out var error));
        Assert.Contains("TPM_ST_ATTEST_QUOTE", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TpmtSignature_ToolsSignature_RoundTripsAndEveryTruncationFails()
    {
        var bytes = TestVectors.File("quote.sig");
        var sig = TpmMarshal.Read<TpmtSignature>(bytes);
        Assert.Equal(TpmAlgId.RsaSsa, sig.SigAlg);
        Assert.Equal(TpmAlgId.Sha256, sig.Hash);
        Assert.Equal(256, sig.Signature.Length);
        Assert.Equal(bytes, TpmMarshal.ToBytes(sig));
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.False(TpmMarshal.TryRead<TpmtSignature>(bytes.AsSpan(0, n), out _, out _));
        }
    }

    [Fact]
    public void TpmtSignature_Ecdsa_RoundTrips()
    {
        var sig = TpmtSignature.Ecc(TpmAlgId.EcDsa, TpmAlgId.Sha256, [1, 2, 3], [4, 5]);
        var bytes = TpmMarshal.ToBytes(sig);
        Assert.Equal("0018000b00030102030002" + "0405", Convert.ToHexStringLower(bytes));
        var back = TpmMarshal.Read<TpmtSignature>(bytes);
        Assert.Equal(sig.R, back.R);
        Assert.Equal(sig.S, back.S);
    }

    [Fact]
    public void Tpm2bIdObject_VectorCredential_SplitsHmacAndEncIdentity()
    {
        var content = TestVectors.Hex("makecred_rsa", "idObject");
        var bytes = new byte[content.Length + 2];
        bytes[0] = (byte)(content.Length >> 8);
        bytes[1] = (byte)content.Length;
        content.CopyTo(bytes, 2);
        var id = TpmMarshal.Read<Tpm2bIdObject>(bytes);
        Assert.Equal(TestVectors.Hex("makecred_rsa", "integrityHMAC"), id.IntegrityHmac);
        Assert.Equal(TestVectors.Hex("makecred_rsa", "encIdentity"), id.EncIdentity);
        Assert.Equal(bytes, TpmMarshal.ToBytes(id));
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.False(TpmMarshal.TryRead<Tpm2bIdObject>(bytes.AsSpan(0, n), out _, out _));
        }
    }

    [Fact]
    public void TpmlPcrSelection_Create_MatchesQuoteCommandBytes()
    {
        var sel = TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 1, 2, 3, 4, 5, 6, 7);
        Assert.Equal("00000001000b03ff0000", Convert.ToHexStringLower(TpmMarshal.ToBytes(sel)));
        var high = TpmsPcrSelection.Create(TpmAlgId.Sha1, 23);
        Assert.Equal([23], high.Indices());
    }

    [Fact]
    public void TpmlPcrSelection_AbsurdCount_Fails()
    {
        Assert.False(TpmMarshal.TryRead<TpmlPcrSelection>(Convert.FromHexString("ffffffff000b03ff0000"), out _, out var error));
        Assert.Contains("exceeds", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TpmWriter_Overflow_ReportsWithoutThrowing()
    {
        var pub = TpmMarshal.Read<TpmtPublic>(TestVectors.Hex("ek_rsa", "tpmt"));
        Assert.False(TpmMarshal.TryWrite(pub, new byte[100], out var written));
        Assert.Equal(0, written);
    }
}
