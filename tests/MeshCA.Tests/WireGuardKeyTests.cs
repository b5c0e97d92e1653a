using Kldload.MeshCA.Tests.Tools;

namespace Kldload.MeshCA.Tests;

public class WireGuardKeyTests
{
    public static TheoryData<string, string, string> Rfc7748Vectors()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "TestData", "rfc7748-x25519.txt")))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var f = line.Split(' ');
            data.Add(f[0], f[1], f[2]);
        }

        return data;
    }

    /// <summary>Points of small order on Curve25519 and their non-canonical encodings (u = 0, 1, p-1, p, p+1, two of order 8).</summary>
    public static TheoryData<string> LowOrderPoints() => new()
    {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    };

    [Fact]
    public void Clamp_AllOnes_ClearsAndSetsRfc7748Bits()
    {
        var k = Enumerable.Repeat((byte)0xFF, 32).ToArray();
        WireGuardKey.Clamp(k);
        Assert.Equal(0xF8, k[0]);
        Assert.Equal(0x7F, k[31]);
    }

    [Fact]
    public void Clamp_AllZero_SetsBit254()
    {
        var k = new byte[32];
        WireGuardKey.Clamp(k);
        Assert.Equal(0x40, k[31]);
    }

    [Fact]
    public void Clamp_WrongLength_Throws() => Assert.Throws<ArgumentException>(() => WireGuardKey.Clamp(new byte[31]));

    [Theory]
    [MemberData(nameof(Rfc7748Vectors))]
    public void TryAgree_Rfc7748Vector_ProducesExpectedOutput(string scalar, string u, string expected)
    {
        var output = new byte[32];
        Assert.True(WireGuardKey.TryAgree(Convert.FromHexString(scalar), Convert.FromHexString(u), output));
        Assert.Equal(expected, Convert.ToHexStringLower(output));
    }

    [Fact]
    public void PublicKeyOf_Rfc7748Section61_MatchesAliceAndBob()
    {
        Assert.Equal("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
            Convert.ToHexStringLower(WireGuardKey.PublicKeyOf(Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))));
        Assert.Equal("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
            Convert.ToHexStringLower(WireGuardKey.PublicKeyOf(Convert.FromHexString("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))));
    }

    [Theory]
    [InlineData(1, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")]
    [InlineData(1000, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")]
    public void TryAgree_Rfc7748IteratedVector_ProducesExpectedOutput(int iterations, string expected)
    {
        var k = new byte[32];
        var u = new byte[32];
        k[0] = 9;
        u[0] = 9;
        var next = new byte[32];
        for (var i = 0; i < iterations; i++)
        {
            Assert.True(WireGuardKey.TryAgree(k, u, next));
            k.CopyTo(u);
            next.CopyTo(k);
        }

        Assert.Equal(expected, Convert.ToHexStringLower(k));
    }

    [Theory]
    [MemberData(nameof(LowOrderPoints))]
    public void TryAgree_LowOrderPeerKey_IsRejected(string lowOrder)
    {
        var priv = new byte[32];
        Random.Shared.NextBytes(priv);
        WireGuardKey.Clamp(priv);
        var shared = new byte[32];
        Assert.False(WireGuardKey.TryAgree(priv, Convert.FromHexString(lowOrder), shared));
        Assert.False(WireGuardKey.IsAcceptablePeerKey(Convert.FromHexString(lowOrder)));
    }

    [Fact]
    public void IsAcceptablePeerKey_RealPublicKey_IsAccepted()
    {
        var priv = new byte[32];
        Random.Shared.NextBytes(priv);
        Assert.True(WireGuardKey.IsAcceptablePeerKey(WireGuardKey.PublicKeyOf(priv)));
        Assert.False(WireGuardKey.IsAcceptablePeerKey(new byte[31]));
    }

    [Fact]
    public void PublicKeyOf_DerivedKey_EqualsWgPubkey()
    {
        var priv = new byte[32];
        WireGuardKeyDerivation.DerivePrivateKey(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(), 3, priv);
        var wgPublic = ExternalTool.Run("wg", ["pubkey"], stdin: WireGuardKey.ToBase64(priv) + "\n").Trim();
        Assert.Equal(wgPublic, WireGuardKey.ToBase64(WireGuardKey.PublicKeyOf(priv)));
    }

    [Fact]
    public void PublicKeyOf_WgGenkey_EqualsWgPubkey()
    {
        var genkey = ExternalTool.Run("wg", ["genkey"]).Trim();
        Assert.True(WireGuardKey.TryParseBase64(genkey, out var priv));
        var wgPublic = ExternalTool.Run("wg", ["pubkey"], stdin: genkey + "\n").Trim();
        Assert.Equal(wgPublic, WireGuardKey.ToBase64(WireGuardKey.PublicKeyOf(priv)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64 at all, not base64 at all, not b")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void TryParseBase64_NotAWgKey_ReturnsFalse(string text) => Assert.False(WireGuardKey.TryParseBase64(text, out _));
}
