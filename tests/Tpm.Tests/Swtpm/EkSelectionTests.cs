using System.Security.Cryptography.X509Certificates;
using Kldload.Tpm.Device;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Tests.Swtpm;

/// <summary>Which EK the agent uses: ECC when an ECC EK certificate is in NV, a persistent EK reused, the chain indices read.</summary>
[Trait("Tier", "Peer")]
public class EkSelectionTests : IClassFixture<ManufacturedSwtpm>
{
    private readonly ManufacturedSwtpm _tpm;

    public EkSelectionTests(ManufacturedSwtpm fixture) => _tpm = fixture;

    private static void AssertNoTransientObjects(Tpm2 tpm) => Assert.Empty(tpm.GetHandles(TpmHandles.TransientFirst));

    [Fact]
    public void Preferred_RsaAndEccCertificates_PicksEccWithItsCertificate()
    {
        using var tpm = _tpm.Swtpm.Connect();
        var (kind, certificate) = EndorsementKey.Preferred(tpm);
        Assert.Equal(EkKind.EccP384H3, kind); // swtpm_setup's ECC EK is the H-3 (P-384) one, NV 0x01C00016
        Assert.NotNull(certificate);
        Assert.Equal(EndorsementKey.ReadCertificate(tpm, EkKind.EccP384H3), certificate);
    }

    [Theory]
    [InlineData(EkKind.EccP384H3, 0x81010016u)]
    [InlineData(EkKind.RsaL1, 0x81010001u)]
    public void OpenOrCreate_PersistentEkPresent_ReusesItAndLeavesIt(EkKind kind, uint handle)
    {
        using var tpm = _tpm.Swtpm.Connect();
        var certificate = EndorsementKey.ReadCertificate(tpm, kind);
        TpmtPublic created;
        using (var fresh = EndorsementKey.Create(tpm, kind))
        {
            created = fresh.Public;
        }

        using (var ek = EndorsementKey.OpenOrCreate(tpm, kind, certificate))
        {
            Assert.True(ek.IsPersistent);
            Assert.Equal(handle, ek.Handle);
            Assert.True(ek.Public.ContentEquals(created)); // the same key CreatePrimary makes
            using var cert = X509CertificateLoader.LoadCertificate(certificate!);
            Assert.True(EkCertificateValidator.KeyMatches(cert, ek.Public));
        }

        Assert.Contains(handle, tpm.GetHandles(0x81000000)); // dispose did not evict or flush it
        AssertNoTransientObjects(tpm);
    }

    [Fact]
    public void OpenOrCreate_PersistentEkUsedForActivation_Works()
    {
        using var tpm = _tpm.Swtpm.Connect();
        using var ek = EndorsementKey.OpenOrCreate(tpm, EkKind.EccP384H3);
        Assert.True(ek.IsPersistent);
        using (var ak = AttestationKey.Create(tpm, ek, TpmTemplates.AkRsa2048()))
        {
            var secret = "a secret only this TPM recovers"u8.ToArray();
            var made = CredentialMaker.Make(ek.Public, ak.Name, secret);
            Assert.Equal(secret, ak.ActivateCredential(ek, made.CredentialBlob, made.Secret));
        }

        AssertNoTransientObjects(tpm);
    }

    [Fact]
    public void OpenOrCreate_CertificateOfAnotherKey_CreatesTransientEk()
    {
        using var tpm = _tpm.Swtpm.Connect();
        var eccCertificate = EndorsementKey.ReadCertificate(tpm, EkKind.EccP384H3);
        using (var ek = EndorsementKey.OpenOrCreate(tpm, EkKind.RsaL1, eccCertificate))
        {
            Assert.False(ek.IsPersistent);
            Assert.Equal(TpmHandles.TransientFirst >> 24, ek.Handle >> 24);
        }

        AssertNoTransientObjects(tpm);
    }

    [Fact]
    public void OpenOrCreate_KindWithoutPersistentEk_CreatesTransientEk()
    {
        using var tpm = _tpm.Swtpm.Connect();
        using (var ek = EndorsementKey.OpenOrCreate(tpm, EkKind.EccP256L2))
        {
            Assert.False(ek.IsPersistent);
            Assert.Equal(TpmEccCurve.NistP256, ek.Public.Curve);
        }

        AssertNoTransientObjects(tpm);
    }

    [Fact]
    public void ReadCertificateChain_ConcatenatedCertificatesInChainIndices_ReadsThemInOrder()
    {
        using var tpm = _tpm.Swtpm.Connect();
        Assert.Empty(EndorsementKey.ReadCertificateChain(tpm));
        var issuer = PemToDer(Path.Combine(_tpm.CaDirectory, "issuercert.pem"));
        var root = SmallCertificate("CN=chain test root"); // the swtpm CA's own root and issuer exceed one 2 KB NV index together
        const TpmaNv attributes = TpmaNv.OwnerWrite | TpmaNv.OwnerRead | TpmaNv.AuthRead | TpmaNv.NoDa;
        byte[] first = [.. issuer, .. root, 0xFF, 0xFF, 0xFF, 0xFF]; // two certificates and padding in one index
        tpm.NvDefineSpace(TpmHandles.Owner, new TpmsNvPublic(EndorsementKey.CertificateChainFirst, TpmAlgId.Sha256, (uint)attributes, [], (ushort)first.Length));
        tpm.NvDefineSpace(TpmHandles.Owner, new TpmsNvPublic(EndorsementKey.CertificateChainFirst + 1, TpmAlgId.Sha256, (uint)attributes, [], (ushort)issuer.Length));
        try
        {
            tpm.NvWrite(EndorsementKey.CertificateChainFirst, first, authHandle: TpmHandles.Owner);
            tpm.NvWrite(EndorsementKey.CertificateChainFirst + 1, issuer, authHandle: TpmHandles.Owner);
            var chain = EndorsementKey.ReadCertificateChain(tpm);
            Assert.Equal(3, chain.Count);
            Assert.Equal(issuer, chain[0]);
            Assert.Equal(root, chain[1]);
            Assert.Equal(issuer, chain[2]);
        }
        finally
        {
            tpm.NvUndefineSpace(TpmHandles.Owner, EndorsementKey.CertificateChainFirst);
            tpm.NvUndefineSpace(TpmHandles.Owner, EndorsementKey.CertificateChainFirst + 1);
        }
    }

    private static byte[] SmallCertificate(string subject)
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return cert.RawData;
    }

    private static byte[] PemToDer(string path)
    {
        using var cert = X509CertificateLoader.LoadCertificateFromFile(path);
        return cert.RawData;
    }
}

/// <summary>The EK choice on a TPM without certificates (as the E2E VMs' fresh swtpm states are).</summary>
[Trait("Tier", "Integration")]
public class EkSelectionEmptyTpmTests : IClassFixture<EmptySwtpm>
{
    private readonly SwtpmProcess _swtpm;

    public EkSelectionEmptyTpmTests(EmptySwtpm fixture) => _swtpm = fixture.Swtpm;

    [Fact]
    public void Preferred_NoCertificates_IsRsaL1WithoutCertificate()
    {
        using var tpm = _swtpm.Connect();
        Assert.Equal((EkKind.RsaL1, (byte[]?)null), EndorsementKey.Preferred(tpm));
        using var ek = EndorsementKey.OpenOrCreate(tpm, EkKind.RsaL1);
        Assert.False(ek.IsPersistent);
    }

    [Fact]
    public void SplitDer_PaddingAfterCertificates_StopsThere()
    {
        byte[] one = [0x30, 0x03, 0x02, 0x01, 0x05];
        Assert.Equal(2, EndorsementKey.SplitDer([.. one, .. one, 0x00, 0x30]).Count);
        Assert.Empty(EndorsementKey.SplitDer([0xFF, .. one]));
    }
}
