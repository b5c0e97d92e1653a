using System.Net;
using Kldload.MeshCA.Distribution;
using Kldload.MeshCA.Tests.Tools;

namespace Kldload.MeshCA.Tests.Distribution;

public class PeerBundleTests
{
    internal static PeerBundle Sample(string node = "n1", ulong epoch = 7) => new()
    {
        NodeId = node,
        Epoch = epoch,
        IssuedAt = new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero),
        KeyEpoch = 2,
        Addresses = [new InterfaceAddress(IPAddress.Parse("fd12:3456:789a:1:aaaa:bbbb:cccc:dddd"), 64), new InterfaceAddress(IPAddress.Parse("100.64.0.7"), 24)],
        Peers =
        [
            new MeshPeer
            {
                Name = "hub",
                PublicKey = Enumerable.Repeat((byte)0x11, 32).ToArray(),
                AllowedIps = [IPNetwork.Parse("fd12:3456:789a:1::/64"), IPNetwork.Parse("100.64.0.0/24")],
                Endpoint = "192.0.2.1:51820",
                PersistentKeepalive = 25,
            },
            new MeshPeer
            {
                Name = "n2",
                PublicKey = Enumerable.Repeat((byte)0x22, 32).ToArray(),
                AllowedIps = [IPNetwork.Parse("fd12:3456:789a:1::2/128")],
            },
        ],
        Revoked = [Enumerable.Repeat((byte)0x33, 32).ToArray()],
    };

    [Fact]
    public void Write_ThenTryRead_RoundTripsToTheSameBytes()
    {
        var bytes = PeerBundleCodec.Write(Sample());
        Assert.True(PeerBundleCodec.TryRead(bytes, out var back, out var error), error);
        Assert.Equal(bytes, PeerBundleCodec.Write(back!));
        Assert.Equal(Sample().Peers, back!.Peers);
        Assert.Equal(Sample().Addresses, back.Addresses);
    }

    [Fact]
    public void TryRead_EveryTruncation_FailsCleanly()
    {
        var bytes = PeerBundleCodec.Write(Sample());
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.False(PeerBundleCodec.TryRead(bytes.AsSpan(0, n), out _, out var error));
            Assert.NotNull(error);
        }
    }

    [Fact]
    public void HasValidSignature_BitFlipInEveryByte_IsFalse()
    {
        using var mesh = new MeshFixture();
        var signed = SignedPeerBundle.Sign(Sample(), mesh.Ca);
        Assert.True(signed.HasValidSignature());
        // One bit per byte, the bit position cycling through 0..7, keeps this bounded (one ECDSA verify per byte).
        for (var i = 0; i < signed.Payload.Length; i++)
        {
            var flipped = (byte[])signed.Payload.Clone();
            flipped[i] ^= (byte)(1 << (i % 8));
            Assert.False((signed with { Payload = flipped }).HasValidSignature(), $"byte {i}");
        }
    }

    [Fact]
    public void ToJson_ThenTryParse_RoundTrips()
    {
        using var mesh = new MeshFixture();
        var signed = SignedPeerBundle.Sign(Sample(), mesh.Ca);
        Assert.True(SignedPeerBundle.TryParse(signed.ToJson(), out var back, out var error), error);
        Assert.Equal(signed.Payload, back!.Payload);
        Assert.Equal(signed.Signature, back.Signature);
        Assert.True(back.HasValidSignature());
        Assert.False(SignedPeerBundle.TryParse("{\"payload\":1}"u8, out _, out _));
    }

    [Fact]
    [Trait("Tier", "Integration")]
    public void Sign_Payload_OpensslDgstVerifies()
    {
        using var mesh = new MeshFixture();
        var signed = SignedPeerBundle.Sign(Sample(), mesh.Ca);
        File.WriteAllBytes(mesh.Dir.File("payload.json"), signed.Payload);
        File.WriteAllBytes(mesh.Dir.File("sig.der"), signed.Signature);
        File.WriteAllText(mesh.Dir.File("signer.pem"), mesh.Ca.Intermediate.ExportCertificatePem());
        ExternalTool.Run("openssl", ["x509", "-in", mesh.Dir.File("signer.pem"), "-pubkey", "-noout", "-out", mesh.Dir.File("pub.pem")]);
        var output = ExternalTool.Run("openssl", ["dgst", "-sha256", "-verify", mesh.Dir.File("pub.pem"), "-signature", mesh.Dir.File("sig.der"), mesh.Dir.File("payload.json")]);
        Assert.Equal("Verified OK", output.Trim());
    }

    [Fact]
    public void RenderWgQuick_Sample_MatchesGoldenTextWithoutPrivateKey()
    {
        var text = WireGuardConfigRenderer.RenderWgQuick(Sample());
        var golden = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "node-wgquick.conf"));
        Assert.Equal(golden, text);
        Assert.DoesNotContain("PrivateKey", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Address", WireGuardConfigRenderer.RenderSetConf(Sample()), StringComparison.Ordinal);
    }

    [Fact]
    public void MergePrivateKey_Config_InsertsKeyFirstInInterface()
    {
        var key = Enumerable.Repeat((byte)0x44, 32).ToArray();
        var merged = WireGuardConfigRenderer.MergePrivateKey(WireGuardConfigRenderer.RenderSetConf(Sample()), key);
        var lines = merged.Split('\n');
        var i = Array.IndexOf(lines, "[Interface]");
        Assert.Equal("PrivateKey = " + Convert.ToBase64String(key), lines[i + 1]);
        Assert.Throws<ArgumentException>(() => WireGuardConfigRenderer.MergePrivateKey(merged, key));
    }

    [Fact]
    [Trait("Tier", "Peer")]
    public void RenderWgQuick_Sample_WgQuickStripGivesOurSetConfText()
    {
        using var dir = new TempDirectory();
        var path = dir.File("kl0.conf");
        File.WriteAllText(path, WireGuardConfigRenderer.RenderWgQuick(Sample()));
        var stripped = ExternalTool.Run("wg-quick", ["strip", path]);
        var ours = WireGuardConfigRenderer.RenderSetConf(Sample());
        static string Meaningful(string s) => string.Join('\n', s.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#'));
        Assert.Equal(Meaningful(ours), Meaningful(stripped));
    }
}
