using FsCheck.Xunit;
using Kldload.Dhcp.RouterDiscovery;

namespace Kldload.Dhcp.Tests.RouterDiscovery;

public class NdpCodecTests
{
    private static readonly byte[] Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    /// <summary>
    /// An advertisement shaped like radvd's for a /64 (RFC 4861 sections 4.2, 4.6.1, 4.6.2, 4.6.4; RFC 8106
    /// section 5.1): hop limit 64, O set, lifetime 1800 s, then SLLA, MTU, prefix fd00:77::/64 (L and A),
    /// RDNSS, and an unknown type 200 option that must survive a round trip.
    /// </summary>
    internal static readonly byte[] RouterWithPrefix = Convert.FromHexString(
        "86000000" + "40" + "40" + "0708" + "00000000" + "00000000"
        + "0101" + "525400abcdef"
        + "0501" + "0000" + "000005dc"
        + "0304" + "40" + "c0" + "00278d00" + "00093a80" + "00000000" + "fd000077000000000000000000000000"
        + "1903" + "0000" + "00000e10" + "fd000077000000000000000000000001"
        + "c801" + "010203040506");

    [Fact]
    public void RouterAdvertisement_Empty_WritesRfc4861LayoutWithZeroChecksum()
    {
        var ra = new RouterAdvertisement();
        ra.Options.AddSourceLinkLayerAddress(Mac);
        Assert.Equal(
            "86000000" + "00000000" + "00000000" + "00000000" + "0101525400123456",
            Convert.ToHexString(ra.ToArray()).ToLowerInvariant());
        Assert.False(ra.ConfiguresHosts);
    }

    [Fact]
    public void RouterAdvertisement_RadvdShape_ReadsEveryFieldAndRoundTrips()
    {
        Assert.True(RouterAdvertisement.TryRead(RouterWithPrefix, out var ra, out var error), error.ToString());
        Assert.Equal(64, ra.CurHopLimit);
        Assert.False(ra.Managed);
        Assert.True(ra.OtherConfig);
        Assert.Equal(1800, ra.RouterLifetime);
        Assert.Equal(
            [NdpOptionType.SourceLinkLayerAddress, NdpOptionType.Mtu, NdpOptionType.PrefixInformation, NdpOptionType.RecursiveDnsServer, (NdpOptionType)200],
            ra.Options.Items.Select(i => i.Type));
        Assert.Equal("525400abcdef", Convert.ToHexString(ra.Options.Get(NdpOptionType.SourceLinkLayerAddress)!).ToLowerInvariant());
        Assert.Equal(30, ra.Options.Get(NdpOptionType.PrefixInformation)!.Length);
        Assert.True(ra.ConfiguresHosts);
        Assert.Equal(RouterWithPrefix, ra.ToArray());
    }

    [Theory]
    [InlineData("86000000" + "00" + "00" + "0000" + "00000000" + "00000000", false)]
    [InlineData("86000000" + "00" + "00" + "0000" + "00000000" + "00000000" + "0101525400123456" + "050100000000" + "05dc", false)]
    [InlineData("86000000" + "00" + "00" + "0001" + "00000000" + "00000000", true)]
    [InlineData("86000000" + "00" + "80" + "0000" + "00000000" + "00000000", true)]
    [InlineData("86000000" + "00" + "40" + "0000" + "00000000" + "00000000", true)]
    [InlineData("86000000" + "00" + "00" + "0000" + "00000000" + "00000000" + "1903" + "0000" + "00000e10" + "fd000077000000000000000000000001", true)]
    public void ConfiguresHosts_LifetimeFlagsOrInformationOptions_True(string hex, bool expected)
    {
        Assert.True(RouterAdvertisement.TryRead(Convert.FromHexString(hex), out var ra, out var error), error.ToString());
        Assert.Equal(expected, ra.ConfiguresHosts);
    }

    [Fact]
    public void RouterAdvertisement_EveryTruncation_FailsCleanlyOrEndsOnAnOptionBoundary()
    {
        // Option boundaries after the 16-byte header: SLLA 8, MTU 8, prefix 32, RDNSS 24, unknown 8.
        int[] boundaries = [16, 24, 32, 64, 88, 96];
        for (var length = 0; length < RouterWithPrefix.Length; length++)
        {
            var ok = RouterAdvertisement.TryRead(RouterWithPrefix.AsSpan(0, length), out var ra, out var error);
            if (length < RouterAdvertisement.HeaderLength)
            {
                Assert.False(ok, $"length {length}");
                Assert.Equal(NdpReadError.TooShort, error);
            }
            else if (boundaries.Contains(length))
            {
                Assert.True(ok, $"length {length}: {error}");
                Assert.Equal(Array.IndexOf(boundaries, length), ra.Options.Items.Count);
            }
            else
            {
                Assert.False(ok, $"length {length}");
                Assert.Equal(NdpReadError.OptionTruncated, error);
            }
        }
    }

    [Fact]
    public void RouterAdvertisement_ZeroLengthOption_Refused()
    {
        var bytes = (byte[])RouterWithPrefix.Clone();
        bytes[25] = 0; // the MTU option's length
        Assert.False(RouterAdvertisement.TryRead(bytes, out _, out var error));
        Assert.Equal(NdpReadError.ZeroLengthOption, error);
    }

    [Theory]
    [InlineData(1, 1, NdpReadError.BadCode)]
    [InlineData(0, 133, NdpReadError.WrongType)]
    [InlineData(0, 135, NdpReadError.WrongType)]
    public void RouterAdvertisement_WrongTypeOrCode_Refused(int index, byte value, NdpReadError expected)
    {
        var bytes = (byte[])RouterWithPrefix.Clone();
        bytes[index] = value;
        Assert.False(RouterAdvertisement.TryRead(bytes, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void RouterSolicitation_WithSourceLinkLayerAddress_WritesRfc4861Layout()
    {
        var rs = new RouterSolicitation();
        rs.Options.AddSourceLinkLayerAddress(Mac);
        var bytes = rs.ToArray();
        Assert.Equal("85000000" + "00000000" + "0101525400123456", Convert.ToHexString(bytes).ToLowerInvariant());
        Assert.True(RouterSolicitation.TryRead(bytes, out var read, out var error), error.ToString());
        Assert.Equal(Mac, read.Options.Get(NdpOptionType.SourceLinkLayerAddress));
    }

    [Fact]
    public void RouterSolicitation_EveryTruncation_FailsCleanlyOrEndsOnAnOptionBoundary()
    {
        var rs = new RouterSolicitation();
        rs.Options.AddSourceLinkLayerAddress(Mac);
        rs.Options.Add((NdpOptionType)200, new byte[14]);
        var bytes = rs.ToArray();
        int[] boundaries = [8, 16, 32];
        for (var length = 0; length < bytes.Length; length++)
        {
            var ok = RouterSolicitation.TryRead(bytes.AsSpan(0, length), out _, out var error);
            Assert.Equal(boundaries.Contains(length), ok);
            if (!ok)
            {
                Assert.Equal(length < RouterSolicitation.HeaderLength ? NdpReadError.TooShort : NdpReadError.OptionTruncated, error);
            }
        }

        Assert.True(RouterSolicitation.TryRead(bytes, out var full, out _));
        Assert.Equal(2, full.Options.Items.Count);
    }

    [Fact]
    public void RouterSolicitation_ZeroLengthOptionOrBadCode_Refused()
    {
        Assert.False(RouterSolicitation.TryRead(Convert.FromHexString("85000000000000000100525400123456"), out _, out var error));
        Assert.Equal(NdpReadError.ZeroLengthOption, error);
        Assert.False(RouterSolicitation.TryRead(Convert.FromHexString("8501000000000000"), out _, out error));
        Assert.Equal(NdpReadError.BadCode, error);
        Assert.False(RouterSolicitation.TryRead(Convert.FromHexString("8600000000000000"), out _, out error));
        Assert.Equal(NdpReadError.WrongType, error);
    }

    [Fact]
    public void NdpOptions_BodyNotMultipleOfEight_Refused()
    {
        var options = new NdpOptions();
        Assert.Throws<ArgumentException>(() => options.Add(NdpOptionType.Mtu, new byte[5]));
        Assert.Throws<ArgumentException>(() => options.AddSourceLinkLayerAddress(new byte[8]));
    }

    [Fact]
    public void RouterAdvertisement_EveryBitFlip_NeverThrowsAndValidResultsRoundTrip()
    {
        for (var bit = 0; bit < RouterWithPrefix.Length * 8; bit++)
        {
            var bytes = (byte[])RouterWithPrefix.Clone();
            bytes[bit / 8] ^= (byte)(1 << (bit % 8));
            if (RouterAdvertisement.TryRead(bytes, out var ra, out _))
            {
                Assert.Equal(bytes.Skip(4), ra.ToArray().Skip(4));
            }
        }
    }

    [Property(MaxTest = 2000)]
    public bool TryRead_RandomBytes_NeverThrows(byte[] data)
    {
        data ??= [];
        _ = RouterAdvertisement.TryRead(data, out _, out _);
        _ = RouterSolicitation.TryRead(data, out _, out _);
        _ = NdpOptions.TryRead(data, out _, out _);
        return true;
    }
}
