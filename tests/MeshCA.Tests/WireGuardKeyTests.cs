namespace Kldload.MeshCA.Tests;

public class WireGuardKeyTests
{
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
}
