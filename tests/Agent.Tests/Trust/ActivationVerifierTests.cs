using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kldload.Agent.Trust;
using Kldload.Contracts;
using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;

namespace Kldload.Agent.Tests.Trust;

/// <summary>Issue 13, attack 7, unit level: the agent applies only what the CA signed for this node and this key.</summary>
public sealed class ActivationVerifierTests : IDisposable
{
    private readonly TestMesh _mesh = new("site-a");
    private readonly TestMesh _other = new("site-evil");
    private readonly byte[] _wgPublic = WireGuardKey.PublicKeyOf(RandomNumberGenerator.GetBytes(32));

    public void Dispose()
    {
        _mesh.Dispose();
        _other.Dispose();
    }

    private VerifiedActivation Verify(ActivateResponse answer, uint keyEpoch = 0) =>
        ActivationVerifier.Verify(answer, _wgPublic, keyEpoch, TimeProvider.System);

    private TrustFailure Refused(ActivateResponse answer, uint keyEpoch = 0) =>
        Assert.Throws<ProvisionerUntrustedException>(() => Verify(answer, keyEpoch)).Failure;

    [Fact]
    public void Verify_GenuineAnswer_ConfigurationComesFromTheSignedBundle()
    {
        var verified = Verify(_mesh.Answer("node-1", _wgPublic));
        Assert.Equal("node-1", verified.NodeId);
        Assert.Equal(_mesh.RootKeySha256, verified.CaKeySha256);
        Assert.Equal(WireGuardConfigRenderer.RenderSetConf(verified.Bundle), verified.Mesh.SetConf);
        Assert.Equal(["fd12:3456:789a:1:aaaa:bbbb:cccc:dddd/64"], verified.Mesh.Addresses);
        Assert.Equal("fd12:3456:789a:1::1", verified.Mesh.HubAddress.ToString());
        Assert.False(verified.OfferedConfigurationDiffers);
    }

    [Fact]
    public void CaKeySha256_EqualsTheOpensslCommandInTheReadme()
    {
        var verified = Verify(_mesh.Answer("node-1", _wgPublic));
        var pem = Path.Combine(Path.GetTempPath(), $"klagent-root-{Guid.NewGuid():N}.pem");
        File.WriteAllText(pem, _mesh.Ca.TrustedRoots[0].ExportCertificatePem());
        try
        {
            var psi = new System.Diagnostics.ProcessStartInfo("bash", ["-c", $"openssl x509 -in {pem} -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum"])
            {
                RedirectStandardOutput = true,
            };
            using var p = System.Diagnostics.Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.Equal(Convert.ToHexStringLower(verified.CaKeySha256), output.Split(' ')[0]);
        }
        finally
        {
            File.Delete(pem);
        }
    }

    [Fact]
    public void Verify_PeerBundleSignedByAnotherCa_Refused()
    {
        var answer = _mesh.Answer("node-1", _wgPublic, bundleSigner: _other.Ca);
        Assert.Equal(TrustFailure.PeerBundleRefused, Refused(answer));
        Assert.Contains("UntrustedSigner", Assert.Throws<ProvisionerUntrustedException>(() => Verify(answer)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_AnotherCaWithItsOwnCertificateAndBundle_VerifiesButNamesThatCa()
    {
        // Internally consistent answers of another CA pass verification: only the pin tells them apart.
        var verified = Verify(_other.Answer("node-1", _wgPublic));
        Assert.Equal(_other.RootKeySha256, verified.CaKeySha256);
        Assert.NotEqual(_mesh.RootKeySha256, verified.CaKeySha256);
    }

    [Fact]
    public void Verify_CaBundleSwappedForAnotherCa_Refused()
    {
        var answer = _mesh.Answer("node-1", _wgPublic) with { CaBundle = _other.Ca.CaBundlePem };
        Assert.Equal(TrustFailure.NodeCertificateUntrusted, Refused(answer));
    }

    [Fact]
    public void Verify_CertificateForAnotherWireGuardKey_Refused()
    {
        var stranger = WireGuardKey.PublicKeyOf(RandomNumberGenerator.GetBytes(32));
        var answer = _mesh.Answer("node-1", stranger);
        Assert.Equal(TrustFailure.NodeCertificateMismatch, Refused(answer));
    }

    [Fact]
    public void Verify_ReplacementHardware_MeshIdentityComesFromTheCertificate()
    {
        // After `kldload nodes replace OLD --with NEW` the new node is enrolled under OLD's mesh identity.
        var verified = Verify(_mesh.Answer("node-new", _wgPublic, meshIdentity: "node-old"));
        Assert.Equal("node-new", verified.NodeId);
        Assert.Equal("node-old", verified.MeshIdentity);
        Assert.Equal("node-old", verified.Bundle.NodeId);
    }

    [Fact]
    public void Verify_BundleForAnotherNodeThanTheCertificate_Refused()
    {
        var answer = _mesh.Answer("node-1", _wgPublic, bundle: TestMesh.Bundle("node-2", 0));
        Assert.Equal(TrustFailure.PeerBundleRefused, Refused(answer));
        Assert.Contains("WrongNode", Assert.Throws<ProvisionerUntrustedException>(() => Verify(answer)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_BundleForAnotherKeyEpoch_Refused()
    {
        var answer = _mesh.Answer("node-1", _wgPublic, keyEpoch: 1);
        Assert.Equal(TrustFailure.KeyEpochMismatch, Refused(answer, keyEpoch: 0));
        Assert.Equal(1u, Verify(answer, keyEpoch: 1).Bundle.KeyEpoch);
    }

    [Fact]
    public void Verify_PayloadEditedAfterSigning_Refused()
    {
        var answer = _mesh.Answer("node-1", _wgPublic);
        SignedPeerBundle.TryParse(Encoding.UTF8.GetBytes(answer.PeerBundle!.Value.GetRawText()), out var signed, out _);
        var payload = Encoding.UTF8.GetString(signed!.Payload).Replace("192.0.2.1:51820", "203.0.113.66:51820", StringComparison.Ordinal);
        var forged = signed with { Payload = Encoding.UTF8.GetBytes(payload) };
        using var json = JsonDocument.Parse(forged.ToJson());
        Assert.Equal(TrustFailure.PeerBundleRefused, Refused(answer with { PeerBundle = json.RootElement.Clone() }));
    }

    [Fact]
    public void Verify_UnsignedConfigurationNamesAnotherHub_SignedBundleIsApplied()
    {
        var answer = _mesh.Answer("node-1", _wgPublic);
        var evil = answer.WireguardConfig!.Replace("192.0.2.1:51820", "203.0.113.66:51820", StringComparison.Ordinal)
            + "\n[Peer]\nPublicKey = " + WireGuardKey.ToBase64(WireGuardKey.PublicKeyOf(RandomNumberGenerator.GetBytes(32))) + "\nAllowedIPs = ::/0\n";
        var verified = Verify(answer with { WireguardConfig = evil });
        Assert.True(verified.OfferedConfigurationDiffers);
        Assert.Contains("Endpoint = 192.0.2.1:51820", verified.Mesh.SetConf, StringComparison.Ordinal);
        Assert.DoesNotContain("203.0.113.66", verified.Mesh.SetConf, StringComparison.Ordinal);
        Assert.DoesNotContain("::/0", verified.Mesh.SetConf, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("certificate")]
    [InlineData("caBundle")]
    [InlineData("peerBundle")]
    public void Verify_PartMissing_RefusedAsIncomplete(string missing)
    {
        var answer = _mesh.Answer("node-1", _wgPublic);
        answer = missing switch
        {
            "certificate" => answer with { Certificate = null },
            "caBundle" => answer with { CaBundle = null },
            _ => answer with { PeerBundle = null },
        };
        Assert.Equal(TrustFailure.Incomplete, Refused(answer));
    }

    [Fact]
    public void Verify_CaBundleWithoutRoot_Refused()
    {
        var answer = _mesh.Answer("node-1", _wgPublic) with { CaBundle = _mesh.Ca.Intermediate.ExportCertificatePem() };
        Assert.Equal(TrustFailure.CaBundleUnreadable, Refused(answer));
    }
}
