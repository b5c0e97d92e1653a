using System.Buffers.Binary;
using System.Net;
using System.Text;
using Kldload.Dhcp.Dhcp6.Protocol;

namespace Kldload.Dhcp.Tests.Dhcp6;

public class Dhcp6CodecTests
{
    [Theory]
    [MemberData(nameof(Dhcp6Captures.All), MemberType = typeof(Dhcp6Captures))]
    public void TryRead_Capture_RoundTripsToTheSameBytes(string name)
    {
        var bytes = Dhcp6Captures.Load(name);
        Assert.True(Dhcp6Message.TryRead(bytes, out var m, out var error), error.ToString());
        Assert.Equal(bytes, m.ToArray());
    }

    [Fact]
    public void TryRead_PerfdhcpSolicit_ReadsDuidIaNaAndRequestedOptions()
    {
        Assert.True(Dhcp6Message.TryRead(Dhcp6Captures.Load("perfdhcp-solicit"), out var m, out _));
        Assert.Equal(Dhcp6MessageType.Solicit, m.MessageType);
        Assert.Equal(0u, m.TransactionId);
        Assert.Equal(DuidType.LinkLayerPlusTime, m.Options.ClientId!.Type);
        Assert.Equal(new byte[] { 0x00, 0x0c, 0x01, 0x02, 0x03, 0x04 }, m.Options.ClientId.MacAddress);
        var ia = Assert.Single(m.Options.IaNas);
        Assert.Equal(1u, ia.Iaid);
        Assert.Equal(3600u, ia.T1);
        Assert.Equal(5400u, ia.T2);
        Assert.Equal([Dhcp6OptionCode.DnsServers, Dhcp6OptionCode.DomainList], m.Options.RequestedOptions);
        Assert.Null(m.Options.ServerId);
    }

    [Fact]
    public void TryRead_KeaReply_ReadsServerIdAndLeasedAddress()
    {
        Assert.True(Dhcp6Message.TryRead(Dhcp6Captures.Load("kea-reply-dhclient"), out var m, out _));
        Assert.Equal(Dhcp6MessageType.Reply, m.MessageType);
        Assert.Equal(0x8ab8b6u, m.TransactionId);
        Assert.Equal(DuidType.LinkLayerPlusTime, m.Options.ServerId!.Type);
        var ia = Assert.Single(m.Options.IaNas);
        Assert.Equal(1800u, ia.T1);
        Assert.Equal(2880u, ia.T2);
        var address = Assert.Single(ia.Options.IaAddresses);
        Assert.Equal(IPAddress.Parse("fd00:77::101"), address.Address);
        Assert.Equal(3600u, address.PreferredLifetime);
        Assert.Equal(7200u, address.ValidLifetime);
    }

    [Fact]
    public void TryRead_DhclientRequest_EchoesTheAdvertisedServerId()
    {
        Assert.True(Dhcp6Message.TryRead(Dhcp6Captures.Load("kea-advertise-dhclient"), out var advertise, out _));
        Assert.True(Dhcp6Message.TryRead(Dhcp6Captures.Load("dhclient-request"), out var request, out _));
        Assert.Equal(Dhcp6MessageType.Request, request.MessageType);
        Assert.Equal(advertise.Options.ServerId, request.Options.ServerId);
        Assert.Equal(advertise.Options.IaNas[0].Options.IaAddresses[0].Address, request.Options.IaNas[0].Options.IaAddresses[0].Address);
    }

    [Theory]
    [MemberData(nameof(Dhcp6Captures.All), MemberType = typeof(Dhcp6Captures))]
    public void TryRead_EveryTruncation_FailsCleanlyOrEndsOnAnOptionBoundary(string name)
    {
        var bytes = Dhcp6Captures.Load(name);
        var boundaries = OptionBoundaries(bytes, Dhcp6Message.OptionsOffset);
        for (var length = 0; length < bytes.Length; length++)
        {
            var ok = Dhcp6Message.TryRead(bytes.AsSpan(0, length), out var m, out var error);
            if (boundaries.Contains(length))
            {
                Assert.True(ok, $"length {length}: {error}");
                Assert.Equal(bytes.AsSpan(0, length).ToArray(), m.ToArray());
            }
            else
            {
                Assert.False(ok, $"length {length} parsed");
                Assert.Equal(length < Dhcp6Message.OptionsOffset ? Dhcp6ReadError.TooShort : Dhcp6ReadError.OptionTruncated, error);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Dhcp6Captures.All), MemberType = typeof(Dhcp6Captures))]
    public void TypedOptions_EveryTruncationOfEachIaNa_FailsCleanly(string name)
    {
        Assert.True(Dhcp6Message.TryRead(Dhcp6Captures.Load(name), out var m, out _));
        foreach (var data in m.Options.GetAll(Dhcp6OptionCode.IaNa))
        {
            var boundaries = OptionBoundaries(data, IaNa.OptionsOffset);
            for (var length = 0; length < data.Length; length++)
            {
                var ok = IaNa.TryRead(data.AsSpan(0, length), out _, out var error);
                Assert.Equal(boundaries.Contains(length), ok);
                if (!ok)
                {
                    Assert.Equal(length < IaNa.OptionsOffset ? Dhcp6ReadError.BadOptionLength : Dhcp6ReadError.OptionTruncated, error);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Dhcp6Captures.All), MemberType = typeof(Dhcp6Captures))]
    public void TryRead_EverySingleBitFlip_NeverThrows(string name)
    {
        var bytes = Dhcp6Captures.Load(name);
        var parsed = 0;
        for (var bit = 0; bit < bytes.Length * 8; bit++)
        {
            var copy = (byte[])bytes.Clone();
            copy[bit / 8] ^= (byte)(1 << (bit % 8));
            if (Dhcp6Envelope.TryRead(copy, out var envelope, out _))
            {
                parsed++;
                _ = envelope!.Message.Options.IaNas;
                _ = envelope.Message.Options.ClientId?.MacAddress;
                _ = envelope.Message.Options.VendorClass;
                Assert.Equal(copy, envelope.Message.ToArray());
            }
        }

        // Flips inside option data leave a parseable message; flips in lengths mostly do not.
        Assert.InRange(parsed, 1, (bytes.Length * 8) - 1);
    }

    [Fact]
    public void TryRead_UnknownOrRelayType_IsNotAClientMessage()
    {
        Assert.False(Dhcp6Message.TryRead([0, 1, 2, 3], out _, out var e0));
        Assert.Equal(Dhcp6ReadError.UnknownMessageType, e0);
        Assert.False(Dhcp6Message.TryRead([14, 1, 2, 3], out _, out var e14));
        Assert.Equal(Dhcp6ReadError.UnknownMessageType, e14);
        Assert.False(Dhcp6Message.TryRead([12, 1, 2, 3], out _, out var e12));
        Assert.Equal(Dhcp6ReadError.UnknownMessageType, e12);
    }

    [Fact]
    public void UnknownOption_SurvivesRoundTrip_InOrder_WithRepeats()
    {
        var m = new Dhcp6Message { MessageType = Dhcp6MessageType.Solicit, TransactionId = 0xabcdef };
        m.Options.Add((Dhcp6OptionCode)4321, [1, 2, 3]);
        m.Options.Add(Dhcp6OptionCode.IaNa, new IaNa { Iaid = 1 }.ToArray());
        m.Options.Add(Dhcp6OptionCode.IaNa, new IaNa { Iaid = 2 }.ToArray());
        m.Options.Add((Dhcp6OptionCode)4321, []);
        Assert.True(Dhcp6Message.TryRead(m.ToArray(), out var back, out _));
        Assert.Equal(0xabcdefu, back.TransactionId);
        Assert.Equal(m.Options.All.Select(o => o.Code), back.Options.All.Select(o => o.Code));
        Assert.Equal([1u, 2u], back.Options.IaNas.Select(i => i.Iaid));
        Assert.Equal(new byte[] { 1, 2, 3 }, back.Options.Get((Dhcp6OptionCode)4321));
    }

    [Fact]
    public void Set_ReplacesEveryInstance_KeepingTheFirstPlace()
    {
        var options = new Dhcp6Options();
        options.Add(Dhcp6OptionCode.Preference, [1]);
        options.Add(Dhcp6OptionCode.ElapsedTime, [0, 0]);
        options.Add(Dhcp6OptionCode.Preference, [2]);
        options.Set(Dhcp6OptionCode.Preference, [3]);
        Assert.Equal([Dhcp6OptionCode.Preference, Dhcp6OptionCode.ElapsedTime], options.All.Select(o => o.Code));
        Assert.Equal(new byte[] { 3 }, options.Get(Dhcp6OptionCode.Preference));
    }

    [Fact]
    public void IaNa_WithAddressAndStatus_RoundTrips()
    {
        var address = new IaAddress { Address = IPAddress.Parse("fd00:10::42"), PreferredLifetime = 300, ValidLifetime = 600 };
        address.Options.SetStatus(Dhcp6StatusCode.Success, "ok");
        var ia = new IaNa { Iaid = 0xdeadbeef, T1 = 150, T2 = 240 };
        ia.Options.Add(Dhcp6OptionCode.IaAddress, address.ToArray());
        ia.Options.SetStatus(Dhcp6StatusCode.NoAddrsAvail, "pool full");

        Assert.True(IaNa.TryRead(ia.ToArray(), out var back, out _));
        Assert.Equal(0xdeadbeefu, back.Iaid);
        Assert.Equal((150u, 240u), (back.T1, back.T2));
        Assert.Equal(new StatusCodeOption(Dhcp6StatusCode.NoAddrsAvail, "pool full"), back.Options.Status);
        var a = Assert.Single(back.Options.IaAddresses);
        Assert.Equal(IPAddress.Parse("fd00:10::42"), a.Address);
        Assert.Equal((300u, 600u), (a.PreferredLifetime, a.ValidLifetime));
        Assert.Equal(Dhcp6StatusCode.Success, a.Options.Status!.Code);

        var bytes = address.ToArray();
        for (var length = 0; length < IaAddress.OptionsOffset; length++)
        {
            Assert.False(IaAddress.TryRead(bytes.AsSpan(0, length), out _, out var error));
            Assert.Equal(Dhcp6ReadError.BadOptionLength, error);
        }
    }

    [Fact]
    public void StatusCode_ShorterThanTwoBytes_IsRejected()
    {
        Assert.False(StatusCodeOption.TryRead([0], out _));
        Assert.True(StatusCodeOption.TryRead([0, 2], out var s));
        Assert.Equal(new StatusCodeOption(Dhcp6StatusCode.NoAddrsAvail, string.Empty), s);
    }

    [Fact]
    public void Duid_MacAddress_FromLltAndLl_NotFromEnOrOtherHardware()
    {
        var mac = new byte[] { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        Assert.Equal(mac, Duid.FromMac(mac).MacAddress);
        Assert.Equal(DuidType.LinkLayer, Duid.FromMac(mac).Type);
        byte[] llt = [0, 1, 0, 1, 0x32, 0xa8, 0xd8, 0x50, .. mac];
        Assert.Equal(mac, new Duid(llt).MacAddress);
        byte[] en = [0, 2, 0, 0, 0x01, 0x57, .. mac];
        Assert.Null(new Duid(en).MacAddress);
        byte[] infiniband = [0, 3, 0, 32, .. mac];
        Assert.Null(new Duid(infiniband).MacAddress);
        Assert.Null(new Duid([0]).MacAddress);
        Assert.Equal("00:03:00:01:52:54:00:12:34:56", Duid.FromMac(mac).ToString());
        Assert.Equal(Duid.FromMac(mac), new Duid([0, 3, 0, 1, .. mac]));
    }

    [Fact]
    public void VendorClass_UefiPxe_IsRecognised_AndTruncationsFail()
    {
        var vendor = new VendorClass(VendorClass.EnterpriseIntel, [Encoding.ASCII.GetBytes("PXEClient:Arch:00007:UNDI:003016")]);
        var bytes = vendor.ToArray();
        Assert.True(VendorClass.TryRead(bytes, out var back));
        Assert.Equal(343u, back.EnterpriseNumber);
        Assert.True(back.IsPxeClient);
        Assert.False(back.IsHttpClient);
        for (var length = 0; length < bytes.Length; length++)
        {
            // 4 (enterprise only, no class data) is the one well-formed prefix.
            Assert.Equal(length == 4, VendorClass.TryRead(bytes.AsSpan(0, length), out _));
        }
    }

    [Fact]
    public void BootOptions_UrlParametersAndArchitecture_RoundTrip()
    {
        var m = new Dhcp6Message { MessageType = Dhcp6MessageType.Advertise, TransactionId = 7 };
        m.Options.Add(Dhcp6OptionCode.BootFileUrl, Encoding.UTF8.GetBytes("tftp://[fd00:10::1]/snponly.efi"));
        m.Options.Add(Dhcp6OptionCode.BootFileParameters, LengthPrefixedList.ToArray([Encoding.UTF8.GetBytes("console=ttyS0"), Encoding.UTF8.GetBytes("quiet")]));
        m.Options.Add(Dhcp6OptionCode.ClientArchitecture, Dhcp6Options.UInt16List([7, 16]));
        Assert.True(Dhcp6Message.TryRead(m.ToArray(), out var back, out _));
        Assert.Equal("tftp://[fd00:10::1]/snponly.efi", back.Options.BootFileUrl);
        Assert.True(LengthPrefixedList.TryRead(back.Options.Get(Dhcp6OptionCode.BootFileParameters), out var parameters));
        Assert.Equal(["console=ttyS0", "quiet"], parameters.Select(p => Encoding.UTF8.GetString(p)));
        Assert.Equal([ClientArchitecture.EfiX64, ClientArchitecture.EfiX64Http], back.Options.ClientArchitectures);

        // An odd-length architecture list is not read as a shorter one.
        back.Options.Set(Dhcp6OptionCode.ClientArchitecture, [0, 7, 0]);
        Assert.Empty(back.Options.ClientArchitectures);
    }

    [Fact]
    public void Relay_TwoHopsWithInterfaceAndRemoteId_RoundTrips_AndReplyMirrorsThem()
    {
        var solicit = Dhcp6Captures.Load("perfdhcp-solicit");
        var inner = new Dhcp6RelayMessage { HopCount = 0, LinkAddress = IPAddress.Parse("fd00:20::1"), PeerAddress = IPAddress.Parse("fe80::5054:ff:fe12:3456") };
        inner.Options.Add(Dhcp6OptionCode.InterfaceId, Encoding.ASCII.GetBytes("swp7"));
        inner.Options.Add(Dhcp6OptionCode.RemoteId, [0, 0, 0x0d, 0xe9, .. "rack4-u12"u8]);
        inner.Options.Add(Dhcp6OptionCode.RelayMessage, solicit);
        var outer = new Dhcp6RelayMessage { HopCount = 1, LinkAddress = IPAddress.IPv6Any, PeerAddress = IPAddress.Parse("fd00:20::1") };
        outer.Options.Add(Dhcp6OptionCode.RelayMessage, inner.ToArray());
        var bytes = outer.ToArray();

        Assert.True(Dhcp6Envelope.TryRead(bytes, out var envelope, out var error), error.ToString());
        Assert.Equal(2, envelope!.Relays.Count);
        Assert.Equal(IPAddress.Parse("fd00:20::1"), envelope.FirstHopRelay!.LinkAddress);
        Assert.Equal(IPAddress.Parse("fe80::5054:ff:fe12:3456"), envelope.FirstHopRelay.PeerAddress);
        Assert.Equal("swp7"u8.ToArray(), envelope.FirstHopRelay.InterfaceId);
        Assert.Equal(3561u, envelope.FirstHopRelay.RemoteId!.Value.EnterpriseNumber);
        Assert.Equal("rack4-u12"u8.ToArray(), envelope.FirstHopRelay.RemoteId.Value.RemoteId);
        Assert.Equal(solicit, envelope.Message.ToArray());

        var reply = envelope.Message.CreateReply(Dhcp6MessageType.Advertise);
        Assert.True(Dhcp6RelayMessage.TryRead(envelope.Encapsulate(reply), out var outerReply, out _));
        Assert.Equal(Dhcp6MessageType.RelayReply, outerReply.MessageType);
        Assert.Equal(1, outerReply.HopCount);
        Assert.Null(outerReply.InterfaceId);
        Assert.True(Dhcp6RelayMessage.TryRead(outerReply.RelayedMessage, out var innerReply, out _));
        Assert.Equal(Dhcp6MessageType.RelayReply, innerReply.MessageType);
        Assert.Equal(IPAddress.Parse("fe80::5054:ff:fe12:3456"), innerReply.PeerAddress);
        Assert.Equal("swp7"u8.ToArray(), innerReply.InterfaceId);
        Assert.Null(innerReply.Options.Get(Dhcp6OptionCode.RemoteId));
        Assert.Equal(reply.ToArray(), innerReply.RelayedMessage);

        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.False(Dhcp6Envelope.TryRead(bytes.AsSpan(0, length), out _, out var e), $"length {length}");
            Assert.NotEqual(Dhcp6ReadError.None, e);
        }
    }

    [Fact]
    public void Relay_WithoutRelayMessage_OrNestedTooDeep_IsRejected()
    {
        var empty = new Dhcp6RelayMessage();
        empty.Options.Add(Dhcp6OptionCode.InterfaceId, [1]);
        Assert.False(Dhcp6Envelope.TryRead(empty.ToArray(), out _, out var missing));
        Assert.Equal(Dhcp6ReadError.MissingRelayMessage, missing);

        var bytes = Dhcp6Captures.Load("perfdhcp-solicit");
        for (var hop = 0; hop <= Dhcp6RelayMessage.MaxHopCount + 1; hop++)
        {
            var relay = new Dhcp6RelayMessage { HopCount = (byte)hop };
            relay.Options.Add(Dhcp6OptionCode.RelayMessage, bytes);
            bytes = relay.ToArray();
        }

        Assert.False(Dhcp6Envelope.TryRead(bytes, out _, out var deep));
        Assert.Equal(Dhcp6ReadError.TooManyRelays, deep);
    }

    /// <summary>Offsets at which a run of options starting at <paramref name="start"/> may end whole.</summary>
    private static HashSet<int> OptionBoundaries(byte[] bytes, int start)
    {
        var set = new HashSet<int> { start };
        var offset = start;
        while (offset + 4 <= bytes.Length)
        {
            offset += 4 + BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(offset + 2));
            set.Add(offset);
        }

        return set;
    }
}
