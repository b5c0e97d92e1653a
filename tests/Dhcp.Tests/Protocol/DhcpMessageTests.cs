using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Protocol;

public class DhcpMessageTests
{
    [Fact]
    public void TryRead_DhclientCapture_ParsesDiscover()
    {
        Assert.True(DhcpMessage.TryRead(Captures.Load("dhclient-discover"), out var m, out var error), error.ToString());
        Assert.Equal(BootOp.BootRequest, m.Op);
        Assert.Equal(DhcpMessageType.Discover, m.Options.MessageType);
        Assert.Equal(0x9f20420fu, m.TransactionId);
        Assert.Equal("fa:71:f6:24:93:ee", m.HardwareAddressText);
        Assert.Equal("vm", m.Options.GetString(DhcpOptionCode.HostName));
        Assert.Equal(13, m.Options.ParameterRequestList.Count);
        Assert.False(BootClient.From(m).IsBootClient);
    }

    [Fact]
    public void BootClient_Option82FromUnrelayedClient_Ignored_FromRelay_Kept()
    {
        Assert.True(DhcpMessage.TryRead(Captures.Load("udhcpc-pxe-discover"), out var m, out _));
        var info = RelayAgentInformation.Create([0, 7], "rack12"u8.ToArray());
        m.Options.Set(DhcpOptionCode.RelayAgentInformation, info.Raw);

        // giaddr 0: the client itself sent option 82, and a client's word about its rack proves nothing.
        Assert.Null(BootClient.From(m).RelayAgentInformation);

        m.RelayAddress = Ipv4Address.Parse("10.12.0.1");
        Assert.Equal(info.Raw, BootClient.From(m).RelayAgentInformation?.Raw);
    }

    [Fact]
    public void TryRead_UdhcpcPxeCapture_ReadsArchitectureAndVendorClass()
    {
        Assert.True(DhcpMessage.TryRead(Captures.Load("udhcpc-pxe-discover"), out var m, out _));
        Assert.Equal((ushort)576, m.Options.GetUInt16(DhcpOptionCode.MaximumMessageSize));
        Assert.Equal("PXEClient:Arch:00007", m.Options.GetString(DhcpOptionCode.VendorClassIdentifier));
        Assert.Equal([ClientArchitecture.EfiX64], m.Options.ClientArchitectures);
        var client = BootClient.From(m);
        Assert.True(client.IsPxeClient);
        Assert.False(client.IsIpxe);
        Assert.Equal(ClientArchitecture.EfiX64, client.Architecture);
    }

    [Fact]
    public void TryRead_IpxeRomCapture_IsIpxeBiosClient()
    {
        Assert.True(DhcpMessage.TryRead(Captures.Load("ipxe-rom-discover"), out var m, out _));
        Assert.Equal("52:54:00:12:34:56", m.HardwareAddressText);
        Assert.Equal(["iPXE"], m.Options.UserClasses);
        Assert.True(m.Options.Contains(DhcpOptionCode.IpxeEncapsulated));
        Assert.True(IpxeEncapsulatedOptions.TryRead(m.Options.Get(DhcpOptionCode.IpxeEncapsulated), out var ipxe));
        Assert.NotNull(ipxe.Get(IpxeEncapsulatedOptions.Http));
        Assert.Equal(Guid.Empty, m.Options.ClientMachineId);
        var client = BootClient.From(m);
        Assert.True(client.IsIpxe);
        Assert.True(client.IsPxeClient);
        Assert.Equal(ClientArchitecture.X86Bios, client.Architecture);
    }

    [Theory]
    [MemberData(nameof(Captures.All), MemberType = typeof(Captures))]
    public void TryWrite_Capture_RoundTripsEveryOptionIncludingUnknown(string name)
    {
        var bytes = Captures.Load(name);
        Assert.True(DhcpMessage.TryRead(bytes, out var first, out _));
        var written = first.ToArray();
        Assert.True(DhcpMessage.TryRead(written, out var second, out _));
        Assert.Equal(first.Options.All.Select(o => (o.Code, Convert.ToHexString(o.Data))), second.Options.All.Select(o => (o.Code, Convert.ToHexString(o.Data))));
        Assert.Equal(first.TransactionId, second.TransactionId);
        Assert.Equal(first.ClientHardwareAddress, second.ClientHardwareAddress);

        // Header and the options area up to End are byte-identical to the capture.
        Assert.Equal(bytes.AsSpan(0, DhcpMessage.OptionsOffset).ToArray(), written.AsSpan(0, DhcpMessage.OptionsOffset).ToArray());
    }

    [Theory]
    [MemberData(nameof(Captures.All), MemberType = typeof(Captures))]
    public void TryRead_EveryTruncation_FailsCleanly(string name)
    {
        var bytes = Captures.Load(name);
        var endOfOptions = EndOptionIndex(bytes);
        for (var n = 0; n < bytes.Length; n++)
        {
            var ok = DhcpMessage.TryRead(bytes.AsSpan(0, n), out _, out var error);
            Assert.Equal(n > endOfOptions, ok);
            Assert.True(ok || error != DhcpReadError.None);
        }
    }

    [Theory]
    [MemberData(nameof(Captures.All), MemberType = typeof(Captures))]
    public void TryRead_EveryBitFlip_NeverThrowsAndRoundTripsWhenAccepted(string name)
    {
        var bytes = Captures.Load(name);
        for (var bit = 0; bit < bytes.Length * 8; bit++)
        {
            var copy = (byte[])bytes.Clone();
            copy[bit / 8] ^= (byte)(1 << (bit % 8));
            if (DhcpMessage.TryRead(copy, out var m, out _))
            {
                _ = BootClient.From(m);
                _ = m.Options.RelayAgentInformation;
                _ = m.Options.ClientArchitectures;
                Assert.True(m.TryWrite(new byte[1500], out _) || m.BootFile.Length >= 128 || m.ServerName.Length >= 64);
            }
        }
    }

    [Fact]
    public void TryWrite_OptionLongerThan255_SplitsAndReadConcatenates()
    {
        var m = new DhcpMessage { TransactionId = 7 };
        m.Options.MessageType = DhcpMessageType.Offer;
        var big = Enumerable.Range(0, 600).Select(i => (byte)i).ToArray();
        m.Options.Set((DhcpOptionCode)224, big);
        var bytes = m.ToArray();

        // 600 bytes = 255 + 255 + 90: three instances of option 224 (RFC 3396 section 7).
        var instances = 0;
        for (var i = DhcpMessage.OptionsOffset; bytes[i] != 255; i += 2 + bytes[i + 1])
        {
            instances += bytes[i] == 224 ? 1 : 0;
        }

        Assert.Equal(3, instances);
        Assert.True(DhcpMessage.TryRead(bytes, out var back, out _));
        Assert.Equal(big, back.Options.Get((DhcpOptionCode)224));
    }

    [Fact]
    public void TryWrite_OptionsOverflowSmallMessage_OverloadsFileAndSname()
    {
        var m = new DhcpMessage();
        m.Options.MessageType = DhcpMessageType.Ack;
        for (byte code = 200; code < 205; code++)
        {
            m.Options.Set((DhcpOptionCode)code, Enumerable.Repeat(code, 40).ToArray());
        }

        var buffer = new byte[300];
        Assert.True(m.TryWrite(buffer, out var n));
        Assert.Equal(300, n);
        Assert.Equal((byte)DhcpOptionCode.OptionOverload, buffer[DhcpMessage.OptionsOffset]);
        Assert.True(DhcpMessage.TryRead(buffer, out var back, out var error), error.ToString());
        Assert.Equal(m.Options.All.Select(o => Convert.ToHexString(o.Data)), back.Options.All.Select(o => Convert.ToHexString(o.Data)));
        Assert.False(back.Options.Contains(DhcpOptionCode.OptionOverload));
    }

    [Fact]
    public void TryRead_OverloadedFileField_ReadsOptionsAndKeepsSnameText()
    {
        var m = new DhcpMessage { ServerName = "boot-server" };
        m.Options.MessageType = DhcpMessageType.Offer;
        var bytes = m.ToArray();

        // Hand-place option 52 = 1 (file holds options) and option 67 inside file.
        var options = DhcpMessage.OptionsOffset;
        bytes[options] = 52;
        bytes[options + 1] = 1;
        bytes[options + 2] = 1;
        bytes[options + 3] = 53;
        bytes[options + 4] = 1;
        bytes[options + 5] = 2;
        bytes[options + 6] = 255;
        var f = DhcpMessage.FileOffset;
        bytes[f] = 67;
        bytes[f + 1] = 4;
        "a.fi"u8.CopyTo(bytes.AsSpan(f + 2));
        bytes[f + 6] = 255;
        Assert.True(DhcpMessage.TryRead(bytes, out var back, out var error), error.ToString());
        Assert.Equal("a.fi", back.Options.GetString(DhcpOptionCode.BootFileName));
        Assert.Equal("boot-server", back.ServerName);
        Assert.Equal(string.Empty, back.BootFile);
    }

    [Fact]
    public void TryRead_BadOverloadValue_FailsWithReason()
    {
        var m = new DhcpMessage();
        m.Options.MessageType = DhcpMessageType.Discover;
        m.Options.Set(DhcpOptionCode.OptionOverload, [7]);
        Assert.False(DhcpMessage.TryRead(m.ToArray(), out _, out var error));
        Assert.Equal(DhcpReadError.BadOverload, error);
    }

    [Fact]
    public void TryRead_WrongMagicCookie_FailsWithReason()
    {
        var bytes = Captures.Load("dhclient-discover");
        bytes[DhcpMessage.MagicCookieOffset] = 0;
        Assert.False(DhcpMessage.TryRead(bytes, out _, out var error));
        Assert.Equal(DhcpReadError.BadMagicCookie, error);
    }

    private static int EndOptionIndex(byte[] bytes)
    {
        var i = DhcpMessage.OptionsOffset;
        while (bytes[i] != 255)
        {
            i += bytes[i] == 0 ? 1 : 2 + bytes[i + 1];
        }

        return i;
    }
}
