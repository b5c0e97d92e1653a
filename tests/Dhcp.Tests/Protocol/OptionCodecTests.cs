using Kldload.Dhcp.Options;

namespace Kldload.Dhcp.Tests.Protocol;

public class OptionCodecTests
{
    [Fact]
    public void RelayAgentInformation_CreateThenRead_KeepsCircuitAndRemoteId()
    {
        var info = RelayAgentInformation.Create([1, 2, 3], "rack7"u8.ToArray());
        Assert.Equal(new byte[] { 1, 3, 1, 2, 3, 2, 5, (byte)'r', (byte)'a', (byte)'c', (byte)'k', (byte)'7' }, info.Raw);
        Assert.True(RelayAgentInformation.TryRead(info.Raw, out var back));
        Assert.Equal(new byte[] { 1, 2, 3 }, back.CircuitId);
        Assert.Equal("rack7"u8.ToArray(), back.RemoteId);
    }

    [Fact]
    public void RelayAgentInformation_TruncatedSubOption_IsRejected()
        => Assert.False(RelayAgentInformation.TryRead([1, 5, 1, 2], out _));

    [Fact]
    public void PxeVendorOptions_BootFromReply_SetsDiscoveryControlBit3()
    {
        var value = PxeVendorOptions.BootFromReply();
        Assert.Equal(PxeVendorOptions.DiscoveryControlBits.UseBootFileName, PxeVendorOptions.ReadDiscoveryControl(value));
        Assert.Equal(255, value[^1]);
        Assert.True(SubOptionList.TryRead(value, padAndEnd: true, out var list));
        Assert.NotNull(list.Get(PxeVendorOptions.BootMenu));
        Assert.Equal(0, list.Get(PxeVendorOptions.MenuPrompt)![0]);
    }

    [Fact]
    public void PxeVendorOptions_EncodeBootServers_DrawsTypeCountAddresses()
    {
        var b = PxeVendorOptions.EncodeBootServers(0, [Kldload.Dhcp.Protocol.Ipv4Address.Parse("10.0.0.1")]);
        Assert.Equal(new byte[] { 0, 0, 1, 10, 0, 0, 1 }, b);
    }

    [Theory]
    [InlineData(new byte[] { 4, (byte)'i', (byte)'P', (byte)'X', (byte)'E' }, "iPXE")]
    [InlineData(new byte[] { (byte)'i', (byte)'P', (byte)'X', (byte)'E' }, "iPXE")]
    public void UserClass_Decode_AcceptsRfcAndBareForms(byte[] data, string expected)
        => Assert.Equal([expected], UserClass.Decode(data));

    [Fact]
    public void UserClass_Encode_IsRfc3004()
        => Assert.Equal(new byte[] { 1, (byte)'a', 2, (byte)'b', (byte)'c' }, UserClass.Encode(["a", "bc"]));
}
