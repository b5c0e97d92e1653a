using System.Diagnostics;
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

    private string Manufacture(string name)
    {
        var dir = Path.Combine(_root, name);
        var state = Path.Combine(dir, "state");
        var ca = Path.Combine(dir, "ca");
        Directory.CreateDirectory(state);
        Directory.CreateDirectory(ca);
        File.WriteAllText(Path.Combine(ca, "swtpm-localca.conf"),
            $"statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\ncertserial = {ca}/certserial\n");
        File.WriteAllText(Path.Combine(ca, "swtpm-localca.options"), "--platform-manufacturer kldload\n--platform-version 2.1\n--platform-model swtpm\n");
        File.WriteAllText(Path.Combine(dir, "swtpm_setup.conf"),
            $"create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {ca}/swtpm-localca.conf\n" +
            $"create_certs_tool_options = {ca}/swtpm-localca.options\nactive_pcr_banks = sha256\n");
        var psi = new ProcessStartInfo("swtpm_setup")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "--tpm2", "--tpmstate", state, "--config", Path.Combine(dir, "swtpm_setup.conf"), "--createek", "--ecc", "--create-ek-cert",
            "--lock-nvram", "--overwrite", "--logfile", Path.Combine(dir, "setup.log"),
        })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["TMPDIR"] = dir;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "swtpm_setup timed out");
        Assert.True(p.ExitCode == 0, $"swtpm_setup failed: {stderr.Result} {File.ReadAllText(Path.Combine(dir, "setup.log"))}");
        return dir;
    }

    private static string TrustDirectory(string manufactured)
    {
        var trust = Path.Combine(manufactured, "trust");
        Directory.CreateDirectory(trust);
        File.Copy(Path.Combine(manufactured, "ca", "swtpm-localca-rootca-cert.pem"), Path.Combine(trust, "root.pem"));
        File.Copy(Path.Combine(manufactured, "ca", "issuercert.pem"), Path.Combine(trust, "issuer.pem"));
        return trust;
    }

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
