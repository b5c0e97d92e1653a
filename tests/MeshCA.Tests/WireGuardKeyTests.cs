
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
    private static readonly string[] LowOrderHex =
    [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];

    public static TheoryData<string> LowOrderPoints() => new(LowOrderHex);

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

    [Theory]
    [MemberData(nameof(LowOrderPoints))]
    public void IsAcceptablePeerKey_LowOrderPointWithTopBitSet_IsRefused(string lowOrder)
    {
        // RFC 7748 section 5 masks bit 255 on decoding, so the same point with it set is the same point.
        var key = Convert.FromHexString(lowOrder);
        key[31] |= 0x80;
        var priv = new byte[32];
        Random.Shared.NextBytes(priv);
        Assert.False(WireGuardKey.TryAgree(priv, key, new byte[32]));
        Assert.False(WireGuardKey.IsAcceptablePeerKey(key));
    }

    [Fact]
    public void IsAcceptablePeerKey_ManyEncodings_AgreesWithX25519Agreement()
    {
        // The oracle is a full X25519 agreement (libsodium through NSec): a peer key is of small order
        // exactly when the shared secret with a clamped scalar is all zeros. Candidates: random keys,
        // every u from 0 to 63 and from p - 32 to 2^255 - 1 (where the non-canonical encodings u + p
        // live), each small-order point with one bit flipped; each also with bit 255 set.
        var rng = new Random(7748);
        var candidates = new List<byte[]>();
        for (var i = 0; i < 500; i++)
        {
            var k = new byte[32];
            rng.NextBytes(k);
            candidates.Add(k);
        }

        for (var u = 0; u < 64; u++)
        {
            var small = new byte[32];
            small[0] = (byte)u;
            candidates.Add(small);
        }

        for (var low = 0xCD; low <= 0xFF; low++)
        {
            var nearP = Enumerable.Repeat((byte)0xFF, 32).ToArray();
            nearP[31] = 0x7F;
            nearP[0] = (byte)low;
            candidates.Add(nearP);
        }

        foreach (var hex in LowOrderHex)
        {
            candidates.Add(Convert.FromHexString(hex));
            for (var bit = 0; bit < 255; bit += 7)
            {
                var k = Convert.FromHexString(hex);
                k[bit / 8] ^= (byte)(1 << (bit % 8));
                candidates.Add(k);
            }
        }

        candidates.AddRange(candidates.Select(k => { var t = (byte[])k.Clone(); t[31] |= 0x80; return t; }).ToList());
        var priv = new byte[32];
        rng.NextBytes(priv);
        WireGuardKey.Clamp(priv);
        var shared = new byte[32];
        var refused = new HashSet<string>();
        foreach (var key in candidates)
        {
            var agreement = WireGuardKey.TryAgree(priv, key, shared);
            Assert.True(agreement == WireGuardKey.IsAcceptablePeerKey(key), $"{Convert.ToHexStringLower(key)}: agreement {agreement}");
            if (!agreement)
            {
                var masked = (byte[])key.Clone();
                masked[31] &= 0x7F;
                refused.Add(Convert.ToHexStringLower(masked));
            }
        }

        // Of all these candidates the agreement refuses exactly the seven listed encodings.
        Assert.Equal(LowOrderHex.Order(), refused.Order());
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
