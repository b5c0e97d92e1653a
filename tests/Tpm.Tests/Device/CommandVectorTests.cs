using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Tests.Device;

/// <summary>Our command bytes equal the captured ones, and the captured responses parse (vectors.json log).</summary>
public class CommandVectorTests
{
    [Fact]
    public void CreatePrimary_EkRsaL1_MatchesCapturedCommandAndName()
    {
        var t = new ScriptedTransport().ExpectLog(0);
        using var tpm = new Tpm2(t);
        var ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.Ek(EkKind.RsaL1));
        Assert.Equal(0x80000000u, ek.Handle);
        Assert.Equal(TestVectors.Hex("ek_rsa", "name"), ek.Name);
        Assert.Equal(ek.Name, ek.Public.Name());
    }

    [Fact]
    public void CreatePrimary_EkEccL2_MatchesCapturedCommand()
    {
        var t = new ScriptedTransport().ExpectLog(22);
        using var tpm = new Tpm2(t);
        var ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.Ek(EkKind.EccP256L2));
        Assert.Equal(TestVectors.Hex("ek_ecc", "name"), ek.Name);
    }

    [Fact]
    public void PolicySecret_Endorsement_MatchesCapturedCommand()
    {
        var t = new ScriptedTransport().ExpectLog(2);
        using var tpm = new Tpm2(t);
        tpm.PolicySecret(TpmHandles.Endorsement, 0x03000000);
        Assert.Equal(0, t.Pending);
    }

    [Fact]
    public void ActivateCredential_RetryThenSuccess_ResendsIdenticalBytes()
    {
        var t = new ScriptedTransport().ExpectLog(9).ExpectLog(10);
        using var tpm = new Tpm2(t);
        var (_, cmd, _) = TestVectors.Log(9);
        var r = new TpmReader(cmd.AsSpan(0x28));
        Tpm2bIdObject.TryRead(ref r, out var id);
        Tpm2bEncryptedSecret.TryRead(ref r, out var secret);
        var result = tpm.ActivateCredential(0x80000001, 0x80000000, id, secret, TpmAuth.EmptyPassword, TpmAuth.Policy(0x03000000));
        Assert.Equal(TestVectors.Hex("makecred_rsa", "secret"), result);
        Assert.Equal(1, tpm.Retries);
    }

    [Fact]
    public void ActivateCredential_WrongName_ThrowsIntegrityOnParameter1()
    {
        var (_, cmd, rsp) = TestVectors.Log(16);
        var t = new ScriptedTransport().Expect(cmd, rsp);
        using var tpm = new Tpm2(t);
        var r = new TpmReader(cmd.AsSpan(0x28));
        Tpm2bIdObject.TryRead(ref r, out var id);
        Tpm2bEncryptedSecret.TryRead(ref r, out var secret);
        var e = Assert.Throws<TpmException>(() => tpm.ActivateCredential(0x80000001, 0x80000000, id, secret, TpmAuth.EmptyPassword, TpmAuth.Policy(0x03000000)));
        Assert.Equal("TPM_RC_INTEGRITY", e.RcName);
        Assert.Equal(TpmRcSubject.Parameter, e.Code.Subject);
        Assert.Equal(1, e.Code.Number);
        Assert.Equal(TpmCommandCode.ActivateCredential, e.Command);
    }

    [Fact]
    public void Quote_RsaAk_MatchesCapturedCommandAndParsesAttest()
    {
        var t = new ScriptedTransport().ExpectLog(18);
        using var tpm = new Tpm2(t);
        var nonce = System.Security.Cryptography.SHA256.HashData("server-nonce"u8);
        var q = tpm.Quote(0x80000001, nonce, TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 1, 2, 3, 4, 5, 6, 7));
        Assert.Equal(TestVectors.Hex("quote_rsa", "attest"), q.AttestBytes);
        Assert.Equal(nonce, q.Attest.ExtraData);
        Assert.Equal(TpmAlgId.RsaSsa, q.Signature.SigAlg);
    }

    [Fact]
    public void PcrRead_EightPcrs_MatchesCapturedCommand()
    {
        var t = new ScriptedTransport().ExpectLog(19);
        using var tpm = new Tpm2(t);
        var values = tpm.PcrRead(TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 1, 2, 3, 4, 5, 6, 7));
        Assert.Equal(8, values.Count);
        Assert.All(values.Values, v => Assert.Equal(32, v.Length));
    }

    [Fact]
    public void Hmac_OwnerPrimary_MatchesCapturedCommandsAndOutput()
    {
        var t = new ScriptedTransport().ExpectLog(40).ExpectLog(41);
        using var tpm = new Tpm2(t);
        var template = TpmTemplates.HmacPrimary("wg-mesh-key-v1");
        var key = tpm.CreatePrimary(TpmHandles.Owner, template);
        Assert.Equal(TestVectors.Hex("hmac_primary", "name"), key.Name);
        var mac = tpm.Hmac(key.Handle, "node-wireguard-key|v1"u8);
        Assert.Equal(TestVectors.Hex("hmac_primary", "hmac"), mac);
    }

    [Fact]
    public void FlushContext_Handle_MatchesCapturedCommand()
    {
        var (_, cmd, rsp) = TestVectors.Log(17);
        var t = new ScriptedTransport().Expect(cmd, rsp);
        using var tpm = new Tpm2(t);
        tpm.FlushContext(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(cmd.AsSpan(10)));
    }

    [Fact]
    public void Execute_PersistentRetry_GivesUpWithRetryError()
    {
        var t = new ScriptedTransport();
        for (var i = 0; i < Tpm2.MaxAttempts; i++)
        {
            t.Expect(null, Convert.FromHexString("80010000000a00000922"));
        }

        using var tpm = new Tpm2(t);
        var e = Assert.Throws<TpmException>(() => tpm.GetRandom(8));
        Assert.Equal("TPM_RC_RETRY", e.RcName);
    }

    [Fact]
    public void Execute_ResponseSizeMismatch_ThrowsFormatError()
    {
        var t = new ScriptedTransport().Expect(null, Convert.FromHexString("80010000000b00000000"));
        using var tpm = new Tpm2(t);
        Assert.Throws<TpmFormatException>(() => tpm.GetRandom(8));
    }

    [Fact]
    public void Execute_EveryTruncatedQuoteResponse_ThrowsFormatError()
    {
        var (_, _, rsp) = TestVectors.Log(18);
        for (var n = 10; n < rsp.Length - 5; n++)
        {
            var truncated = rsp[..n];
            truncated[2] = (byte)(n >> 24);
            truncated[3] = (byte)(n >> 16);
            truncated[4] = (byte)(n >> 8);
            truncated[5] = (byte)n;
            var t = new ScriptedTransport().Expect(null, truncated);
            using var tpm = new Tpm2(t);
            Assert.Throws<TpmFormatException>(() => tpm.Quote(0x80000001, new byte[32], TpmlPcrSelection.Create(TpmAlgId.Sha256, 0)));
        }
    }
}
