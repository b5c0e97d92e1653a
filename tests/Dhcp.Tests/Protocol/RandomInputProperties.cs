using FsCheck.Xunit;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Protocol;

public class RandomInputProperties
{
    [Property(MaxTest = 2000)]
    public bool TryRead_RandomBytes_NeverThrows(byte[] data)
    {
        _ = DhcpMessage.TryRead(data ?? [], out _, out _);
        return true;
    }

    [Property(MaxTest = 2000)]
    public bool TryRead_RandomOptionsAfterValidHeader_NeverThrows(byte[] options)
    {
        var bytes = new byte[DhcpMessage.OptionsOffset + (options?.Length ?? 0)];
        bytes[0] = 1;
        bytes[2] = 6;
        bytes[236] = 99;
        bytes[237] = 130;
        bytes[238] = 83;
        bytes[239] = 99;
        options?.CopyTo(bytes, DhcpMessage.OptionsOffset);
        if (DhcpMessage.TryRead(bytes, out var m, out _))
        {
            _ = BootClient.From(m);
            _ = m.Options.ParameterRequestList;
            _ = PxeVendorOptions.ReadDiscoveryControl(m.Options.Get(DhcpOptionCode.VendorSpecific) ?? []);
        }

        return true;
    }

    [Property(MaxTest = 500)]
    public bool TryWrite_RandomOptionValues_RoundTrip(byte[][] values)
    {
        var m = new DhcpMessage();
        m.Options.MessageType = DhcpMessageType.Offer;
        byte code = 100;
        foreach (var v in (values ?? []).Take(8))
        {
            m.Options.Set((DhcpOptionCode)code++, v ?? []);
        }

        var buffer = new byte[4096];
        Assert.True(m.TryWrite(buffer, out var n));
        Assert.True(DhcpMessage.TryRead(buffer.AsSpan(0, n), out var back, out var error), error.ToString());
        return m.Options.All.Select(o => Convert.ToHexString(o.Data)).SequenceEqual(back.Options.All.Select(o => Convert.ToHexString(o.Data)));
    }
}
