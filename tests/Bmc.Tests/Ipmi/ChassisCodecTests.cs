using Kldload.Bmc.Ipmi.Protocol;

namespace Kldload.Bmc.Tests.Ipmi;

public sealed class ChassisCodecTests
{
    [Theory]
    [InlineData(false, "80 04 00 00 00")]
    [InlineData(true, "a0 04 00 00 00")]
    public void BootFlags_OneTimePxe_WritesTable28_14Bytes(bool efi, string expected)
    {
        var data = new byte[BootFlags.Size];

        new BootFlags(Valid: true, Persistent: false, Efi: efi, BootDevice.Pxe).Write(data);

        Assert.Equal(Hex.Bytes(expected), data);
    }

    [Fact]
    public void BootFlags_IpmiSimAnswer_ReadsForcePxeNextBootOnly()
    {
        // ipmi_sim's Get System Boot Options answer after `ipmitool chassis bootdev pxe`: version 1, parameter 5, 00 04 00 00 00.
        Assert.True(BootFlags.TryReadResponse(Hex.Bytes("01 05 00 04 00 00 00"), out var flags, out var error), error);

        Assert.Equal(BootDevice.Pxe, flags.Device);
        Assert.False(flags.Persistent);
    }

    [Theory]
    [InlineData("01 00 00", true)]
    [InlineData("00 00 00 00", false)]
    [InlineData("61 10 40", true)]
    public void ChassisStatus_Bit0_IsPower(string data, bool on)
    {
        Assert.True(ChassisStatus.TryRead(Hex.Bytes(data), out var status, out var error), error);

        Assert.Equal(on, status.PowerOn);
    }

    [Fact]
    public void ChassisStatus_Short_FailsCleanly()
    {
        Assert.False(ChassisStatus.TryRead(Hex.Bytes("01 00"), out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void SystemUuid_IpmiSimGuid_ReadsAsIpmitoolPrintsIt()
    {
        // lan.conf `guid a123456789abcdefa123456789abcdef`; `ipmitool mc guid` prints efcdab89-6745-23a1-efcd-ab89674523a1.
        var uuid = BmcSystemUuid.FromIpmi(Hex.Bytes("a1 23 45 67 89 ab cd ef a1 23 45 67 89 ab cd ef"));

        Assert.Equal(Guid.Parse("efcdab89-6745-23a1-efcd-ab89674523a1"), uuid.Reported);
        Assert.True(uuid.Matches(Guid.Parse("efcdab89-6745-23a1-efcd-ab89674523a1")));
        // SMBIOS order: the first three fields little-endian.
        Assert.True(uuid.Matches(Guid.Parse("674523a1-ab89-efcd-a123-456789abcdef")));
        Assert.False(uuid.Matches(Guid.Parse("a1234567-89ab-cdef-a123-456789abcdef")));
    }
}
