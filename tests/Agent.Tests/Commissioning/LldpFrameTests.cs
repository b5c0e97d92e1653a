using Kldload.Agent.Commissioning;
using Kldload.Facts;

namespace Kldload.Agent.Tests.Commissioning;

public sealed class LldpFrameTests
{
    // An LLDPDU as a switch sends it: chassis id by MAC (subtype 4), port id by interface name
    // (subtype 5), TTL 120, system name, end.
    private static readonly byte[] Frame =
    [
        0x01, 0x80, 0xC2, 0x00, 0x00, 0x0E, 0x00, 0x1B, 0x21, 0x3A, 0x4B, 0x5C, 0x88, 0xCC,
        0x02, 0x07, 0x04, 0x00, 0x1B, 0x21, 0x3A, 0x4B, 0x5C,
        0x04, 0x09, 0x05, (byte)'G', (byte)'i', (byte)'1', (byte)'/', (byte)'0', (byte)'/', (byte)'1', (byte)'2',
        0x06, 0x02, 0x00, 0x78,
        0x0A, 0x05, (byte)'t', (byte)'o', (byte)'r', (byte)'-', (byte)'1',
        0x00, 0x00,
    ];

    [Fact]
    public void TryRead_SwitchFrame_ChassisMacPortNameSystemName() =>
        Assert.Equal(new LldpFacts("eno1", "00:1b:21:3a:4b:5c", "Gi1/0/12", "tor-1"), LldpFrame.TryRead(Frame, "eno1"));

    [Fact]
    public void TryRead_NotLldp_Null()
    {
        var ipv4 = (byte[])Frame.Clone();
        ipv4[12] = 0x08;
        ipv4[13] = 0x00;
        Assert.Null(LldpFrame.TryRead(ipv4, "eno1"));
    }

    [Fact]
    public void TryRead_EveryTruncationAndBitFlip_NeverThrows()
    {
        for (var length = 0; length < Frame.Length; length++)
        {
            var r = LldpFrame.TryRead(Frame.AsSpan(0, length), "eno1");
            Assert.True(length >= 34 || r is null, $"length {length}"); // chassis and port id end at byte 34
            Assert.True(r is null || (r.ChassisId, r.PortId) == ("00:1b:21:3a:4b:5c", "Gi1/0/12"), $"length {length}");
        }

        for (var bit = 0; bit < Frame.Length * 8; bit++)
        {
            var flipped = (byte[])Frame.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            _ = LldpFrame.TryRead(flipped, "eno1");
        }
    }
}
