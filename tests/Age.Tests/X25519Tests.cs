namespace Kldload.Age.Tests;

/// <summary>The X25519 the age stanzas use, against RFC 7748 section 6.1's Diffie-Hellman example.</summary>
public sealed class X25519Tests
{
    private const string AliceSecret = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    private const string AlicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    private const string BobSecret = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    private const string BobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    private const string Shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

    [Fact]
    public void PublicKeyOf_Rfc7748Example_Matches()
    {
        Assert.Equal(AlicePublic, Convert.ToHexStringLower(X25519.PublicKeyOf(Convert.FromHexString(AliceSecret))));
        Assert.Equal(BobPublic, Convert.ToHexStringLower(X25519.PublicKeyOf(Convert.FromHexString(BobSecret))));
    }

    [Fact]
    public void TryAgree_Rfc7748Example_BothSidesGetTheSharedSecret()
    {
        var a = new byte[32];
        var b = new byte[32];
        Assert.True(X25519.TryAgree(Convert.FromHexString(AliceSecret), Convert.FromHexString(BobPublic), a));
        Assert.True(X25519.TryAgree(Convert.FromHexString(BobSecret), Convert.FromHexString(AlicePublic), b));
        Assert.Equal(Shared, Convert.ToHexStringLower(a));
        Assert.Equal(Shared, Convert.ToHexStringLower(b));
    }

    [Fact]
    public void TryAgree_TopBitOfThePeerKey_IsIgnored()
    {
        var peer = Convert.FromHexString(BobPublic);
        peer[31] |= 0x80;
        var shared = new byte[32];
        Assert.True(X25519.TryAgree(Convert.FromHexString(AliceSecret), peer, shared));
        Assert.Equal(Shared, Convert.ToHexStringLower(shared));
    }

    [Theory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("0100000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")]
    public void TryAgree_LowOrderPeer_IsRefused(string peerHex)
    {
        var shared = new byte[32];
        Assert.False(X25519.TryAgree(Convert.FromHexString(AliceSecret), Convert.FromHexString(peerHex), shared));
    }

    [Fact]
    public void PublicKeyOf_WrongLength_Throws() =>
        Assert.Throws<ArgumentException>(() => X25519.PublicKeyOf(new byte[31]));
}
