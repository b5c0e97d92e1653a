using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kldload.Tpm.Device;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Tests.Verification;

public class EvidenceTests
{
    private static string CaDirectory()
    {
        var dir = Directory.CreateTempSubdirectory("kltpm-ca-").FullName;
        File.Copy(TestVectors.PathOf("files/swtpm-localca-rootca-cert.pem"), Path.Combine(dir, "root.pem"));
        File.Copy(TestVectors.PathOf("files/issuercert.pem"), Path.Combine(dir, "issuer.pem"));
        return dir;
    }

    [Theory]
    [InlineData("ek_rsa_cert.der", "ek.pub")]
    [InlineData("ek_ecc_cert.der", "ek_p384.pub")]
    public void EkCertificate_LocalCaChain_Validates(string certFile, string ekFile)
    {
        var dir = CaDirectory();
        try
        {
            var validator = EkCertificateValidator.FromDirectory(dir);
            using var cert = X509CertificateLoader.LoadCertificate(TestVectors.File(certFile));
            validator.Validate(cert, TpmMarshal.Read<Tpm2bPublic>(TestVectors.File(ekFile)).Public);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void EkCertificate_OtherEk_KeyMismatch()
    {
        var dir = CaDirectory();
        try
        {
            var validator = EkCertificateValidator.FromDirectory(dir);
            using var cert = X509CertificateLoader.LoadCertificate(TestVectors.File("ek_rsa_cert.der"));
            var other = TpmMarshal.Read<Tpm2bPublic>(TestVectors.File("ak.pub")).Public;
            var e = Assert.Throws<AttestationException>(() => validator.Validate(cert, other));
            Assert.Equal(AttestationFailure.EkCertificateKeyMismatch, e.Failure);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void EkCertificate_NoIntermediate_Untrusted()
    {
        var dir = Directory.CreateTempSubdirectory("kltpm-ca-").FullName;
        try
        {
            File.Copy(TestVectors.PathOf("files/swtpm-localca-rootca-cert.pem"), Path.Combine(dir, "root.pem"));
            var validator = EkCertificateValidator.FromDirectory(dir);
            using var cert = X509CertificateLoader.LoadCertificate(TestVectors.File("ek_rsa_cert.der"));
            var e = Assert.Throws<AttestationException>(() => validator.Validate(cert, TpmMarshal.Read<Tpm2bPublic>(TestVectors.File("ek.pub")).Public));
            Assert.Equal(AttestationFailure.EkCertificateUntrusted, e.Failure);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void EkCertificate_IssuedByAnotherCa_Untrusted()
    {
        // Same EK key, certified by a CA that is not in the trusted directory.
        var ek = TpmMarshal.Read<Tpm2bPublic>(TestVectors.File("ek.pub")).Public;
        using var otherRootKey = RSA.Create(2048);
        var rootRequest = new CertificateRequest("CN=Other EK Root", otherRootKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        // One clock reading, and the EK certificate ends well inside the root's validity: a second
        // clock reading a second later would ask for a notAfter past the root's (to-the-second) one.
        var now = DateTimeOffset.UtcNow;
        using var otherRoot = rootRequest.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
        using var ekKey = ek.CreateRsa();
        var ekRequest = new CertificateRequest("CN=forged ek", ekKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var forged = ekRequest.Create(otherRoot, now.AddDays(-1), now.AddMonths(6), [1, 2, 3]);
        Assert.True(EkCertificateValidator.KeyMatches(forged, ek));
        var dir = CaDirectory();
        try
        {
            var e = Assert.Throws<AttestationException>(() => EkCertificateValidator.FromDirectory(dir).Validate(forged, ek));
            Assert.Equal(AttestationFailure.EkCertificateUntrusted, e.Failure);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void EventLog_Captured_ReplayMatchesTpm2EventlogOutput()
    {
        var log = TcgEventLog.Parse(TestVectors.File("eventlog.bin"));
        Assert.Equal(32, log.DigestSizes[TpmAlgId.Sha256]);
        Assert.Equal(7, log.Events.Count);
        var replay = log.Replay(TpmAlgId.Sha256);
        var expected = File.ReadAllLines(TestVectors.PathOf("files/eventlog.replay.txt"))
            .Select(l => l.Trim())
            .Where(l => l.Contains(": 0x", StringComparison.Ordinal))
            .Select(l => (Pcr: int.Parse(l[..l.IndexOf(' ', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture), Value: Convert.FromHexString(l[(l.IndexOf("0x", StringComparison.Ordinal) + 2)..])))
            .ToList();
        Assert.Equal(4, expected.Count);
        foreach (var (pcr, value) in expected)
        {
            Assert.Equal(value, replay[(TpmAlgId.Sha256, pcr)]);
        }

        Assert.Equal("research-firmware-v1", TcgEventLog.DescribeData(log.Events[0]));
    }

    [Fact]
    public void EventLog_Truncations_FailOrYieldPrefix()
    {
        var bytes = TestVectors.File("eventlog.bin");
        var full = TcgEventLog.Parse(bytes);
        for (var n = 0; n < bytes.Length; n++)
        {
            try
            {
                var partial = TcgEventLog.Parse(bytes.AsSpan(0, n));
                Assert.True(partial.Events.Count < full.Events.Count);
            }
            catch (AttestationException e)
            {
                Assert.Equal(AttestationFailure.Malformed, e.Failure);
            }
        }
    }

    [Fact]
    public void EventLog_StartupLocality3_SetsPcr0InitialValue()
    {
        var bytes = TestVectors.File("eventlog.bin").ToList();
        // Insert a StartupLocality EV_NO_ACTION event (locality 3) right after the header event.
        var headerSize = 32 + BitConverter.ToInt32([.. bytes.GetRange(28, 4)]);
        var data = "StartupLocality\0"u8.ToArray().Append((byte)3).ToArray();
        var ev = new List<byte>();
        ev.AddRange(BitConverter.GetBytes(0u));
        ev.AddRange(BitConverter.GetBytes(3u));
        ev.AddRange(BitConverter.GetBytes(1u));
        ev.AddRange(BitConverter.GetBytes((ushort)0x000B));
        ev.AddRange(new byte[32]);
        ev.AddRange(BitConverter.GetBytes(data.Length));
        ev.AddRange(data);
        bytes.InsertRange(headerSize, ev);
        var log = TcgEventLog.Parse(bytes.ToArray());
        Assert.Equal(3, log.StartupLocality);
        var firstPcr0 = log.Events.First(e => e.PcrIndex == 0 && e.EventType != TcgEventType.NoAction);
        var initial = new byte[32];
        initial[31] = 3;
        var expected = SHA256.HashData([.. initial, .. firstPcr0.Digests[TpmAlgId.Sha256]]);
        var onlyFirst = log.Events.Where(e => e.PcrIndex == 0 && e.EventType != TcgEventType.NoAction).ToList();
        foreach (var e in onlyFirst.Skip(1))
        {
            expected = SHA256.HashData([.. expected, .. e.Digests[TpmAlgId.Sha256]]);
        }

        Assert.Equal(expected, log.Replay(TpmAlgId.Sha256)[(TpmAlgId.Sha256, 0)]);
    }

    [Fact]
    public void EventLog_NotCryptoAgile_Malformed()
    {
        var bytes = TestVectors.File("eventlog.bin");
        bytes[32] = (byte)'X';
        Assert.Equal(AttestationFailure.Malformed, Assert.Throws<AttestationException>(() => TcgEventLog.Parse(bytes)).Failure);
    }

    [Fact]
    public void TrimDer_PaddedNv_CutsPadding()
    {
        var der = TestVectors.File("ek_rsa_cert.der");
        Assert.Equal(der, EndorsementKey.TrimDer([.. der, 0xFF, 0xFF, 0x00]));
        Assert.Throws<Errors.TpmFormatException>(() => EndorsementKey.TrimDer(der[..100]));
    }
}
