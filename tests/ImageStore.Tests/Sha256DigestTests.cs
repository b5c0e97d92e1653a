using System.Text;

namespace Kldload.ImageStore.Tests;

public class Sha256DigestTests
{
    [Fact]
    public void Of_Abc_MatchesFips180Vector()
        => Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Sha256Digest.Of(Encoding.ASCII.GetBytes("abc")).ToString());

    [Theory]
    [InlineData("")]
    [InlineData("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a")]
    [InlineData("../etc/passwd")]
    public void TryParse_NotLowercaseHex64_Fails(string text) => Assert.False(Sha256Digest.TryParse(text, out _));

    [Fact]
    public void TryParse_RoundTrips()
    {
        var d = Sha256Digest.Of([1, 2, 3]);
        Assert.True(Sha256Digest.TryParse(d.ToString(), out var parsed));
        Assert.Equal(d, parsed);
    }
}
