using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Tests.Tools;

namespace Kldload.MeshCA.Tests.Authority;

[SupportedOSPlatform("linux")]
public class MeshCertificateAuthorityTests
{
    internal static NodeIdentity NewIdentity(string id = "node-01", IPAddress? v4 = null)
    {
        var priv = RandomNumberGenerator.GetBytes(32);
        return new NodeIdentity
        {
            NodeId = id,
            WireGuardPublicKey = WireGuardKey.PublicKeyOf(priv),
            EkSha256 = EkFingerprint.Of(RandomNumberGenerator.GetBytes(300)),
            Address6 = IPAddress.Parse("fd12:3456:789a:1:aaaa:bbbb:cccc:dddd"),
            Address4 = v4,
        };
    }

    private static string OpensslVerify(TempDirectory dir, string caBundlePem, X509Certificate2 leaf, params string[] extra)
    {
        File.WriteAllText(dir.File("ca.pem"), caBundlePem);
        File.WriteAllText(dir.File("node.pem"), leaf.ExportCertificatePem());
        var r = ExternalTool.TryRun("openssl", ["verify", .. extra, "-CAfile", dir.File("ca.pem"), dir.File("node.pem")]);
        return $"{r.ExitCode}:{r.StdOut.Trim()}{r.StdErr.Trim()}";
    }

    [Fact]
    public void OpenOrCreate_FirstStart_WritesPrivateFiles()
    {
        using var dir = new TempDirectory();
        var caDir = dir.File("meshca");
        using var ca = MeshCertificateAuthority.OpenOrCreate(caDir, "lab", TimeProvider.System);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(caDir));
        foreach (var f in Directory.GetFiles(caDir))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f));
        }

        Assert.True(File.Exists(Path.Combine(caDir, MeshCertificateAuthority.RootKeyFile)));
        Assert.Single(ca.TrustedRoots);
        Assert.Equal("ECC", ca.Intermediate.PublicKey.Oid.FriendlyName, ignoreCase: true);
    }

    [Fact]
    public void OpenOrCreate_SecondStart_KeepsTheSameIntermediate()
    {
        using var dir = new TempDirectory();
        string thumb;
        using (var ca = MeshCertificateAuthority.OpenOrCreate(dir.Path, "lab", TimeProvider.System))
        {
            thumb = ca.Intermediate.Thumbprint;
        }

        using var again = MeshCertificateAuthority.OpenOrCreate(dir.Path, "lab", TimeProvider.System);
        Assert.Equal(thumb, again.Intermediate.Thumbprint);
    }

    [Fact]
    public void Issue_NodeIdentity_ParsesBackWithX25519KeyAndSans()
    {
        using var dir = new TempDirectory();
        using var ca = MeshCertificateAuthority.OpenOrCreate(dir.Path, "lab", TimeProvider.System);
        var id = NewIdentity(v4: IPAddress.Parse("100.64.0.7"));

        using var cert = ca.Issue(id, TimeSpan.FromDays(7));

        Assert.Equal(MeshCertificateAuthority.X25519Oid, cert.PublicKey.Oid.Value);
        Assert.True(cert.PublicKey.EncodedParameters is null || cert.PublicKey.EncodedParameters.RawData.Length == 0);
        Assert.Equal(id.WireGuardPublicKey, cert.PublicKey.EncodedKeyValue.RawData);
        Assert.Equal(MeshCertificateAuthority.X25519SubjectPublicKeyInfo(id.WireGuardPublicKey), cert.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Equal("O=kldload, OU=mesh, CN=node-01", cert.Subject);
        Assert.Equal(TimeSpan.FromDays(7) + MeshCertificateAuthority.Backdate, cert.NotAfter - cert.NotBefore);
        var san = cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal([id.Address6, id.Address4!], san.EnumerateIPAddresses().ToArray());

        // openssl reads the same certificate back: key type and every SAN.
        File.WriteAllText(dir.File("node.pem"), cert.ExportCertificatePem());
        var text = ExternalTool.Run("openssl", ["x509", "-in", dir.File("node.pem"), "-noout", "-text"]);
        Assert.Contains("X25519", text, StringComparison.Ordinal);
        Assert.Contains("URI:urn:kldload:node:node-01", text, StringComparison.Ordinal);
        Assert.Contains($"URI:urn:kldload:ek-sha256:{Convert.ToHexStringLower(id.EkSha256)}", text, StringComparison.Ordinal);
        Assert.Contains("IP Address:FD12:3456:789A:1:AAAA:BBBB:CCCC:DDDD", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("IP Address:100.64.0.7", text, StringComparison.Ordinal);
        Assert.Contains("Key Agreement", text, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Tier", "Integration")]
    public void Issue_NodeCertificate_OpensslVerifyAcceptsCaBundle()
    {
        using var dir = new TempDirectory();
        using var ca = MeshCertificateAuthority.OpenOrCreate(dir.File("meshca"), "lab", TimeProvider.System);
        using var cert = ca.Issue(NewIdentity(), TimeSpan.FromDays(7));

        Assert.Equal($"0:{dir.File("node.pem")}: OK", OpensslVerify(dir, ca.CaBundlePem, cert));
        Assert.True(MeshCertificateAuthority.ChainsToTrustedRoot(cert, ca.TrustedRoots, DateTimeOffset.UtcNow, out var why, ca.Intermediate), why);
    }

    [Fact]
    [Trait("Tier", "Integration")]
    public void Issue_OtherCaBundle_OpensslVerifyRejects()
    {
        using var dir = new TempDirectory();
        using var ca = MeshCertificateAuthority.OpenOrCreate(dir.File("a"), "lab", TimeProvider.System);
        using var other = MeshCertificateAuthority.OpenOrCreate(dir.File("b"), "lab", TimeProvider.System);
        using var cert = ca.Issue(NewIdentity(), TimeSpan.FromDays(7));

        Assert.StartsWith("2:", OpensslVerify(dir, other.CaBundlePem, cert), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Tier", "Integration")]
    public void Import_RootKeptOffline_IssuesVerifiableCertificates()
    {
        using var dir = new TempDirectory();
        string certPem, keyPem, trustPem;
        using (var made = MeshCertificateAuthority.OpenOrCreate(dir.File("offline"), "lab", TimeProvider.System))
        {
            certPem = File.ReadAllText(Path.Combine(made.Location, MeshCertificateAuthority.IntermediateCertificateFile));
            keyPem = File.ReadAllText(Path.Combine(made.Location, MeshCertificateAuthority.IntermediateKeyFile));
            trustPem = File.ReadAllText(Path.Combine(made.Location, MeshCertificateAuthority.TrustFile));
        }

        using var ca = MeshCertificateAuthority.Import(dir.File("site"), certPem, keyPem, trustPem, TimeProvider.System);
        Assert.False(File.Exists(Path.Combine(ca.Location, MeshCertificateAuthority.RootKeyFile)));
        using var cert = ca.Issue(NewIdentity(), TimeSpan.FromHours(1));
        Assert.Equal($"0:{dir.File("node.pem")}: OK", OpensslVerify(dir, ca.CaBundlePem, cert));

        // Reopening from disk alone works without any root key.
        var thumbprint = ca.Intermediate.Thumbprint;
        ca.Dispose();
        using var reopened = MeshCertificateAuthority.Open(dir.File("site"), TimeProvider.System);
        Assert.Equal(thumbprint, reopened.Intermediate.Thumbprint);
    }

    [Fact]
    public void Import_KeyOfAnotherIntermediate_Throws()
    {
        using var dir = new TempDirectory();
        using var a = MeshCertificateAuthority.OpenOrCreate(dir.File("a"), "lab", TimeProvider.System);
        using var b = MeshCertificateAuthority.OpenOrCreate(dir.File("b"), "lab", TimeProvider.System);
        Assert.Throws<InvalidDataException>(() => MeshCertificateAuthority.Import(dir.File("c"),
            a.Intermediate.ExportCertificatePem(),
            File.ReadAllText(Path.Combine(b.Location, MeshCertificateAuthority.IntermediateKeyFile)),
            a.CaBundlePem, TimeProvider.System));
    }

    [Fact]
    [Trait("Tier", "Integration")]
    public void AddTrustedRoot_RotationWithoutFlagDay_OldAndNewCertificatesVerify()
    {
        using var dir = new TempDirectory();
        using var oldCa = MeshCertificateAuthority.OpenOrCreate(dir.File("site"), "lab", TimeProvider.System);
        using var newHierarchy = MeshCertificateAuthority.OpenOrCreate(dir.File("new"), "lab", TimeProvider.System);
        using var oldNodeCert = oldCa.Issue(NewIdentity("old"), TimeSpan.FromDays(1));

        // Step 1: nodes learn the new root while the old intermediate still issues.
        Assert.True(oldCa.AddTrustedRoot(newHierarchy.TrustedRoots[0]));
        Assert.False(oldCa.AddTrustedRoot(newHierarchy.TrustedRoots[0]));
        Assert.Equal(2, oldCa.TrustedRoots.Count);
        Assert.Equal($"0:{dir.File("node.pem")}: OK", OpensslVerify(dir, oldCa.CaBundlePem, oldNodeCert));
        Assert.Throws<InvalidOperationException>(() => oldCa.RemoveTrustedRoot(oldCa.TrustedRoots[0].Thumbprint));

        // Step 2: the intermediate of the new root takes over; both roots stay trusted.
        using var rotated = MeshCertificateAuthority.Import(dir.File("site"),
            newHierarchy.Intermediate.ExportCertificatePem(),
            File.ReadAllText(Path.Combine(newHierarchy.Location, MeshCertificateAuthority.IntermediateKeyFile)),
            MeshCertificateAuthority.ToPem(oldCa.TrustedRoots), TimeProvider.System);
        using var newNodeCert = rotated.Issue(NewIdentity("new"), TimeSpan.FromDays(1));
        Assert.Equal($"0:{dir.File("node.pem")}: OK", OpensslVerify(dir, rotated.CaBundlePem, newNodeCert));
        File.WriteAllText(dir.File("old-intermediate.pem"), oldCa.Intermediate.ExportCertificatePem());
        Assert.Equal($"0:{dir.File("node.pem")}: OK", OpensslVerify(dir, rotated.CaBundlePem, oldNodeCert, "-untrusted", dir.File("old-intermediate.pem")));

        // Step 3: the old root goes.
        Assert.True(rotated.RemoveTrustedRoot(oldCa.TrustedRoots[0].Thumbprint));
        Assert.Single(rotated.TrustedRoots);
    }

    [Fact]
    public void Issue_LowOrderWireGuardKey_Throws()
    {
        using var dir = new TempDirectory();
        using var ca = MeshCertificateAuthority.OpenOrCreate(dir.Path, "lab", TimeProvider.System);
        var bad = NewIdentity() with { WireGuardPublicKey = new byte[32] };
        Assert.Throws<ArgumentException>(() => ca.Issue(bad, TimeSpan.FromDays(1)));
        Assert.Throws<ArgumentException>(() => ca.Issue(NewIdentity("bad id!"), TimeSpan.FromDays(1)));
    }
}
