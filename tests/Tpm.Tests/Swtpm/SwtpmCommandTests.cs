using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Transport;

namespace Kldload.Tpm.Tests.Swtpm;

/// <summary>One swtpm (a copy of the captured state) shared by the command tests of this class.</summary>
public sealed class CapturedStateSwtpm : IDisposable
{
    public SwtpmProcess Swtpm { get; } = SwtpmProcess.StartFromCapturedState();

    public void Dispose() => Swtpm.Dispose();
}

[Trait("Tier", "Integration")]
public class SwtpmCommandTests : IClassFixture<CapturedStateSwtpm>
{
    private readonly SwtpmProcess _swtpm;

    public SwtpmCommandTests(CapturedStateSwtpm fixture) => _swtpm = fixture.Swtpm;

    private void AssertNoTransientHandles(Tpm2 tpm)
    {
        Assert.Empty(tpm.GetHandles(TpmHandles.TransientFirst));
        Assert.Empty(tpm.GetHandles(0x03000000));
        Assert.Empty(tpm.GetHandles(0x02000000));
    }

    [Fact]
    public void GetRandom_FortyBytes_LoopsPastOneDigest()
    {
        using var tpm = _swtpm.Connect();
        var a = tpm.GetRandom(40);
        var b = tpm.GetRandom(40);
        Assert.Equal(40, a.Length);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Startup_AlreadyStarted_ReturnsFalse()
    {
        using var tpm = _swtpm.Connect();
        Assert.False(tpm.Startup());
    }

    [Fact]
    public void GetCapability_PcrBanksAndProperties_Reported()
    {
        using var tpm = _swtpm.Connect();
        var banks = tpm.GetPcrBanks();
        Assert.Contains(banks.Selections, s => s.Hash == TpmAlgId.Sha256 && s.Indices().Count == 24);
        Assert.True(tpm.GetTpmProperty(0x12C) > 0); // TPM_PT_NV_BUFFER_MAX
        Assert.Contains(TpmHandles.PersistentEkRsa, tpm.GetHandles(0x81000000));
    }

    [Fact]
    public void PcrRead_AllTwentyFourPcrs_LoopsPastEight()
    {
        using var tpm = _swtpm.Connect();
        var all = Enumerable.Range(0, 24).ToArray();
        var values = tpm.PcrRead(TpmlPcrSelection.Create(TpmAlgId.Sha256, all));
        Assert.Equal(24, values.Count);
        Assert.All(all, i => Assert.True(values.ContainsKey((TpmAlgId.Sha256, i))));
    }

    [Fact]
    public void PcrRead_InactiveBank_ReturnsNoValues()
    {
        using var tpm = _swtpm.Connect();
        var banks = tpm.GetPcrBanks();
        var inactive = banks.Selections.FirstOrDefault(s => s.IsEmpty);
        Assert.NotNull(inactive); // swtpm_setup activated only sha256
        var values = tpm.PcrRead(TpmlPcrSelection.Create(inactive.Hash, 0, 1));
        Assert.Empty(values);
    }

    [Fact]
    public void ReadPublic_PersistentEk_EqualsOurRsaL1Ek()
    {
        using var tpm = _swtpm.Connect();
        var persisted = tpm.ReadPublic(TpmHandles.PersistentEkRsa);
        using var ek = EndorsementKey.Create(tpm, EkKind.RsaL1);
        Assert.Equal(persisted.Public.ToBytes(), ek.Public.ToBytes());
        Assert.Equal(persisted.Name, ek.Name);
    }

    [Fact]
    public void EndorsementKey_HighRangeP384_EqualsSwtpmSetupEk()
    {
        using var tpm = _swtpm.Connect();
        var persisted = tpm.ReadPublic(0x81010016);
        using var ek = EndorsementKey.Create(tpm, EkKind.EccP384H3);
        Assert.Equal(persisted.Public.ToBytes(), ek.Public.ToBytes());
        Assert.Equal(TpmAlgId.Sha384, ek.Public.NameAlg);
    }

    [Fact]
    public void EndorsementKey_Certificates_TrimmedToDerAndMatchCapturedFiles()
    {
        using var tpm = _swtpm.Connect();
        Assert.Equal(TestVectors.File("ek_rsa_cert.der"), EndorsementKey.ReadCertificate(tpm, EkKind.RsaL1));
        Assert.Equal(TestVectors.File("ek_ecc_cert.der"), EndorsementKey.ReadCertificate(tpm, EkKind.EccP384H3));
        Assert.Null(EndorsementKey.ReadCertificate(tpm, EkKind.EccP256L2));
    }

    [Fact]
    public void NvRead_MissingIndex_ThrowsHandleError()
    {
        using var tpm = _swtpm.Connect();
        var e = Assert.Throws<TpmException>(() => tpm.NvReadPublic(0x01C0000A));
        Assert.Equal("TPM_RC_HANDLE", e.RcName);
    }

    [Theory]
    [InlineData(EkKind.RsaL1, true)]
    [InlineData(EkKind.EccP256L2, false)]
    [InlineData(EkKind.EccP384H3, false)]
    public void AttestationKey_CreateQuoteFlush_LeavesNoHandles(EkKind kind, bool rsaAk)
    {
        using var tpm = _swtpm.Connect();
        using (var ek = EndorsementKey.Create(tpm, kind))
        using (var ak = AttestationKey.Create(tpm, ek, rsaAk ? TpmTemplates.AkRsa2048() : TpmTemplates.AkEccP256()))
        {
            Assert.Equal(ak.Public.Name(), ak.Name);
            var nonce = tpm.GetRandom(32);
            var quote = ak.Quote(nonce, TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 1, 2, 3, 4, 5, 6, 7));
            Assert.Equal(nonce, quote.Attest.ExtraData);
            // qualifiedSigner is the AK's Qualified Name (H(parent QN || Name)), not its Name.
            Assert.Equal(ak.Name.Length, quote.Attest.QualifiedSigner.Length);
            Assert.Equal(rsaAk ? TpmAlgId.RsaSsa : TpmAlgId.EcDsa, quote.Signature.SigAlg);
        }

        AssertNoTransientHandles(tpm);
    }

    [Fact]
    public void AttestationKey_FailedCreate_FlushesPolicySession()
    {
        using var tpm = _swtpm.Connect();
        using (var ek = EndorsementKey.Create(tpm, EkKind.EccP256L2))
        {
            var bad = TpmTemplates.AkEccP256();
            bad = new TpmtPublic
            {
                Type = bad.Type,
                NameAlg = bad.NameAlg,
                ObjectAttributes = bad.ObjectAttributes | TpmaObject.Decrypt,
                Scheme = bad.Scheme,
                Curve = bad.Curve,
                EccKdf = bad.EccKdf,
                Symmetric = bad.Symmetric,
            };
            var e = Assert.Throws<TpmException>(() => AttestationKey.Create(tpm, ek, bad));
            Assert.NotEqual(TpmRcSubject.None, e.Code.Subject);
        }

        AssertNoTransientHandles(tpm);
    }

    [Fact]
    public void PolicySession_WrongPcrPolicy_UnsealFailsWithPolicyFail()
    {
        using var tpm = _swtpm.Connect();
        var pcrs = TpmlPcrSelection.Create(TpmAlgId.Sha256, 23);
        var secret = "sealed-under-pcr23"u8.ToArray();
        var sealedObject = PcrSealing.Seal(tpm, secret, pcrs);
        Assert.Equal(secret, PcrSealing.Unseal(tpm, sealedObject, pcrs));
        AssertNoTransientHandles(tpm);

        // Change PCR 23 with tpm2_pcrextend, then unsealing must fail.
        var work = Directory.CreateTempSubdirectory("kltpm-tools-").FullName;
        try
        {
            _swtpm.RunTool("tpm2_pcrextend", work, "23:sha256=" + new string('a', 64));
        }
        finally
        {
            Directory.Delete(work, true);
        }

        var e = Assert.Throws<TpmException>(() => PcrSealing.Unseal(tpm, sealedObject, pcrs));
        Assert.Equal("TPM_RC_POLICY_FAIL", e.RcName);
        Assert.Equal(TpmRcSubject.Session, e.Code.Subject);
        AssertNoTransientHandles(tpm);
    }

    [Fact]
    public void PolicyGetDigest_PcrPolicy_EqualsSoftwareDigest()
    {
        using var tpm = _swtpm.Connect();
        var pcrs = TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 7);
        var values = tpm.PcrRead(pcrs);
        var expected = Kldload.Tpm.Verification.TpmPolicyDigest.PolicyPcr(TpmAlgId.Sha256, new byte[32], pcrs, pcrs.Enumerate().Select(p => values[p]));
        var session = tpm.StartAuthSession(TpmSessionType.Trial);
        try
        {
            tpm.PolicyPcr(session, pcrs);
            Assert.Equal(expected, tpm.PolicyGetDigest(session));
        }
        finally
        {
            tpm.FlushContext(session);
        }
    }

    [Fact]
    public void PolicyOr_EkPolicyB_EqualsTemplatePolicy()
    {
        using var tpm = _swtpm.Connect();
        var policyC = Convert.FromHexString("3767E2EDD43FF45A3A7E1EAEFCEF78643DCA964632E7AAD82C673A30D8633FDE");
        var session = tpm.StartAuthSession(TpmSessionType.Trial);
        try
        {
            tpm.PolicySecret(TpmHandles.Endorsement, session);
            Assert.Equal(TpmTemplates.PolicyASha256.ToArray(), tpm.PolicyGetDigest(session));
            tpm.PolicyOr(session, [TpmTemplates.PolicyASha256.ToArray(), policyC]);
            Assert.Equal(TpmTemplates.PolicyBSha256.ToArray(), tpm.PolicyGetDigest(session));
        }
        finally
        {
            tpm.FlushContext(session);
        }
    }

    [Fact]
    public void Transport_ReconnectsAfterDisconnect()
    {
        using var transport = new SwtpmTcpTransport("127.0.0.1", _swtpm.DataPort);
        using var tpm = new Tpm2(transport, ownsTransport: false);
        Assert.Equal(8, tpm.GetRandom(8).Length);
        transport.Disconnect();
        Assert.Equal(8, tpm.GetRandom(8).Length);
    }

    [Fact]
    public void Marshal_CapturedEkFile_EqualsTpmReadPublic()
    {
        using var tpm = _swtpm.Connect();
        var persisted = tpm.ReadPublic(TpmHandles.PersistentEkRsa);
        Assert.Equal(TestVectors.File("ek.pub"), persisted.Public.ToSizedBytes());
        Assert.Equal(TpmMarshal.Read<Tpm2bPublic>(TestVectors.File("ek_p384.pub")).Public.ToBytes(), tpm.ReadPublic(0x81010016).Public.ToBytes());
    }
}
