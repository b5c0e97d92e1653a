using System.Security.Cryptography.X509Certificates;
using Kldload.Tpm.Device;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Tests.Swtpm;

/// <summary>
/// A freshly manufactured swtpm: <c>swtpm_setup --create-ek-cert</c> with its own local CA (swtpm_localca
/// in a temp dir), then the EK certificates read from NV by kldload and validated against that CA only.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class SwtpmSetupTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("kltpm-setup-").FullName;

    public void Dispose() => Directory.Delete(_root, true);

    private string Manufacture(string name) => SwtpmManufacturer.Manufacture(Path.Combine(_root, name));

    private static string TrustDirectory(string manufactured) => SwtpmManufacturer.TrustDirectory(manufactured);

    [Fact]
    public void EkCertificate_FreshSwtpmSetup_ValidatesAgainstItsCaOnly()
    {
        var a = Manufacture("a");
        var b = Manufacture("b");
        var trustA = EkCertificateValidator.FromDirectory(TrustDirectory(a));
        var trustB = EkCertificateValidator.FromDirectory(TrustDirectory(b));
        using var swtpm = SwtpmProcess.StartOn(Path.Combine(a, "state"));
        using var tpm = swtpm.Connect();
        foreach (var kind in new[] { EkKind.RsaL1, EkKind.EccP384H3 })
        {
            var der = EndorsementKey.ReadCertificate(tpm, kind);
            Assert.NotNull(der);
            using var cert = X509CertificateLoader.LoadCertificate(der);
            using var ek = EndorsementKey.Create(tpm, kind);
            trustA.Validate(cert, ek.Public);
            var e = Assert.Throws<AttestationException>(() => trustB.Validate(cert, ek.Public));
            Assert.Equal(AttestationFailure.EkCertificateUntrusted, e.Failure);
        }

        using var rsaEk = EndorsementKey.Create(tpm, EkKind.RsaL1);
        using var eccCert = X509CertificateLoader.LoadCertificate(EndorsementKey.ReadCertificate(tpm, EkKind.EccP384H3)!);
        Assert.Equal(AttestationFailure.EkCertificateKeyMismatch, Assert.Throws<AttestationException>(() => trustA.Validate(eccCert, rsaEk.Public)).Failure);
    }
}
