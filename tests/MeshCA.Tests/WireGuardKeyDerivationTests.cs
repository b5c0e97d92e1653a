using System.Security.Cryptography;
using Kldload.MeshCA.Tests.Tools;

namespace Kldload.MeshCA.Tests;

public class WireGuardKeyDerivationTests
{
    private sealed class FixedHmac(byte[] output) : ITpmHmac
    {
        public List<byte[]> Messages { get; } = [];

        public byte[] Hmac(ReadOnlySpan<byte> message)
        {
            Messages.Add(message.ToArray());
            return (byte[])output.Clone();
        }
    }

    [Fact]
    public void Info_Epoch7_IsAsciiLabel() =>
        Assert.Equal("kldload/wg/v1/epoch=7"u8.ToArray(), WireGuardKeyDerivation.Info(7));

    [Fact]
    public void DerivePrivateKey_KnownIkm_IsClampedHkdfOfInfo()
    {
        var ikm = SHA256.HashData("ikm"u8);
        var expected = HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, 32, [], "kldload/wg/v1/epoch=0"u8.ToArray());
        WireGuardKey.Clamp(expected);
        var tpm = new FixedHmac(ikm);

        var key = WireGuardKeyDerivation.DerivePrivateKey(tpm, 0);

        Assert.Equal(expected, key);
        Assert.Equal("kldload/wg"u8.ToArray(), Assert.Single(tpm.Messages));
    }

    [Fact]
    public void DerivePrivateKey_DifferentEpochs_DifferentKeys()
    {
        var tpm = new FixedHmac(SHA256.HashData("ikm"u8));
        Assert.NotEqual(WireGuardKeyDerivation.DerivePrivateKey(tpm, 1), WireGuardKeyDerivation.DerivePrivateKey(tpm, 2));
    }

    [Fact]
    [Trait("Tier", "Integration")]
    public void DerivePrivateKey_RealSwtpm_StableUntilClearAndPerEpoch()
    {
        using var swtpm = SwtpmProcess.StartEmpty();
        var tpm = new Tpm2ToolsHmac(swtpm);

        var first = WireGuardKeyDerivation.DerivePrivateKey(tpm, 0);
        var again = WireGuardKeyDerivation.DerivePrivateKey(tpm, 0);
        var epoch1 = WireGuardKeyDerivation.DerivePrivateKey(tpm, 1);
        Assert.Equal(first, again);
        Assert.NotEqual(first, epoch1);

        // wg agrees on the public key of a TPM-derived private key.
        var wgPublic = ExternalTool.Run("wg", ["pubkey"], stdin: WireGuardKey.ToBase64(first) + "\n").Trim();
        Assert.Equal(wgPublic, WireGuardKey.ToBase64(WireGuardKey.PublicKeyOf(first)));

        // TPM2_Clear replaces the owner seed: K, and so the key, change.
        swtpm.Tool("tpm2_clear", "-c", "p");
        var afterClear = WireGuardKeyDerivation.DerivePrivateKey(tpm, 0);
        Assert.NotEqual(first, afterClear);
        Assert.Equal(afterClear, WireGuardKeyDerivation.DerivePrivateKey(tpm, 0));
    }
}
