using System.Net;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Server;

public class DhcpEngineTests
{
    private static readonly Ipv4Address Relay = Ipv4Address.Parse("10.1.0.1");

    [Fact]
    public void Discover_NewClient_OffersFirstPoolAddressWithOptions()
    {
        var f = new EngineFixture();
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Discover, 1));
        Assert.True(DhcpMessage.TryRead(outcome.Reply!.Payload, out var offer, out _));
        Assert.Equal(DhcpMessageType.Offer, offer.Options.MessageType);
        Assert.Equal(Ipv4Address.Parse("10.0.0.100"), offer.YourAddress);
        Assert.Equal(EngineFixture.Server, offer.Options.GetAddress(DhcpOptionCode.ServerIdentifier));
        Assert.Equal(3600u, offer.Options.GetUInt32(DhcpOptionCode.IPAddressLeaseTime));
        Assert.Equal(1800u, offer.Options.GetUInt32(DhcpOptionCode.RenewalTime));
        Assert.Equal(3150u, offer.Options.GetUInt32(DhcpOptionCode.RebindingTime));
        Assert.Equal(Ipv4Address.Parse("255.255.255.0"), offer.Options.GetAddress(DhcpOptionCode.SubnetMask));
        Assert.Equal("rack.test", offer.Options.GetString(DhcpOptionCode.DomainName));
        Assert.Equal(new IPEndPoint(IPAddress.Broadcast, 68), outcome.Reply.Destination);
        Assert.Equal(1, f.Engine.PendingOfferCount);
        Assert.Equal(0, f.Engine.ActiveLeaseCount);
    }

    [Fact]
    public void Request_Selecting_AcksAndPersistsLease()
    {
        var f = new EngineFixture();
        var ack = f.Dora(1);
        Assert.Equal(Ipv4Address.Parse("10.0.0.100"), ack.YourAddress);
        Assert.Equal(1, f.Engine.ActiveLeaseCount);
        Assert.Equal(0, f.Engine.PendingOfferCount);
        var stored = Assert.Single(f.Store.LoadAll());
        Assert.Equal(DhcpLeaseState.Active, stored.State);
        Assert.Equal("52:54:00:00:00:01", stored.HardwareAddress);
        Assert.Equal(f.Clock.GetUtcNow() + TimeSpan.FromHours(1), stored.Expires);
    }

    [Fact]
    public void Discover_TwoClients_GetDistinctAddresses()
    {
        var f = new EngineFixture();
        var a = f.Dora(1).YourAddress;
        var b = f.Dora(2).YourAddress;
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Discover_KnownClient_GetsItsLeaseBack()
    {
        var f = new EngineFixture();
        var first = f.Dora(1).YourAddress;
        f.Dora(2);
        f.Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(first, f.Reply(EngineFixture.Message(DhcpMessageType.Discover, 1))!.YourAddress);
    }

    [Fact]
    public void Request_SelectingOtherServer_DropsOfferSilently()
    {
        var f = new EngineFixture();
        f.Send(EngineFixture.Message(DhcpMessageType.Discover, 1));
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Request, 1, m =>
        {
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, Ipv4Address.Parse("10.0.0.2"));
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, Ipv4Address.Parse("10.0.0.100"));
        }));
        Assert.Null(outcome.Reply);
        Assert.Equal(DhcpDropReason.NotForUs, outcome.Drop);
        Assert.Equal(0, f.Engine.PendingOfferCount);
    }

    [Fact]
    public void Request_SelectingAddressOfferedToAnother_Naks()
    {
        var f = new EngineFixture();
        var offered = f.Reply(EngineFixture.Message(DhcpMessageType.Discover, 1))!.YourAddress;
        var nak = f.Reply(EngineFixture.Message(DhcpMessageType.Request, 2, m =>
        {
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, EngineFixture.Server);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, offered);
        }))!;
        Assert.Equal(DhcpMessageType.Nak, nak.Options.MessageType);
        Assert.Equal(Ipv4Address.Any, nak.YourAddress);
    }

    [Fact]
    public void Request_InitRebootOwnAddress_Acks()
    {
        var f = new EngineFixture();
        var address = f.Dora(1).YourAddress;
        f.Clock.Advance(TimeSpan.FromMinutes(20));
        var ack = f.Reply(EngineFixture.Message(DhcpMessageType.Request, 1, m => m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, address)))!;
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.Equal(address, ack.YourAddress);
    }

    [Fact]
    public void Request_InitRebootWrongSubnet_Naks()
    {
        var f = new EngineFixture();
        f.Dora(1);
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Request, 1, m => m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, Ipv4Address.Parse("192.168.5.5"))));
        Assert.True(DhcpMessage.TryRead(outcome.Reply!.Payload, out var nak, out _));
        Assert.Equal(DhcpMessageType.Nak, nak.Options.MessageType);
        Assert.Equal(new IPEndPoint(IPAddress.Broadcast, 68), outcome.Reply.Destination);
    }

    [Fact]
    public void Request_InitRebootAddressOfOtherClient_Naks()
    {
        var f = new EngineFixture();
        var taken = f.Dora(1).YourAddress;
        var nak = f.Reply(EngineFixture.Message(DhcpMessageType.Request, 2, m => m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, taken)))!;
        Assert.Equal(DhcpMessageType.Nak, nak.Options.MessageType);
    }

    [Fact]
    public void Request_InitRebootUnknownClientFreeAddress_StaysSilent()
    {
        var f = new EngineFixture();
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Request, 3, m => m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, Ipv4Address.Parse("10.0.0.105"))));
        Assert.Null(outcome.Reply);
        Assert.Equal(DhcpDropReason.NotForUs, outcome.Drop);
    }

    [Fact]
    public void Request_RenewingAtT1_ExtendsLeaseAndUnicastsToCiaddr()
    {
        var f = new EngineFixture();
        var address = f.Dora(1).YourAddress;
        f.Clock.Advance(TimeSpan.FromMinutes(30));
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Request, 1, m => m.ClientAddress = address), new IPEndPoint(address.ToIPAddress(), 68));
        Assert.True(DhcpMessage.TryRead(outcome.Reply!.Payload, out var ack, out _));
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.Equal(address, ack.ClientAddress);
        Assert.Equal(new IPEndPoint(address.ToIPAddress(), 68), outcome.Reply.Destination);
        Assert.Equal(f.Clock.GetUtcNow() + TimeSpan.FromHours(1), Assert.Single(f.Engine.Leases).Expires);
    }

    [Fact]
    public void Request_RebindingAfterExpiryAddressTakenByOther_Naks()
    {
        var f = new EngineFixture(poolEnd: 100);
        var address = f.Dora(1).YourAddress;
        f.Clock.Advance(TimeSpan.FromHours(2));
        Assert.Equal(address, f.Dora(2).YourAddress);
        var nak = f.Reply(EngineFixture.Message(DhcpMessageType.Request, 1, m => { m.ClientAddress = address; m.IsBroadcast = true; }))!;
        Assert.Equal(DhcpMessageType.Nak, nak.Options.MessageType);
    }

    [Fact]
    public void Lease_Expired_IsReusedForAnotherClient()
    {
        var f = new EngineFixture(poolEnd: 100);
        var address = f.Dora(1).YourAddress;
        Assert.Equal(DhcpDropReason.PoolExhausted, f.Send(EngineFixture.Message(DhcpMessageType.Discover, 2)).Drop);
        f.Clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        Assert.Equal(address, f.Dora(2).YourAddress);
        Assert.Equal("52:54:00:00:00:02", Assert.Single(f.Engine.Leases).HardwareAddress);
    }

    [Fact]
    public void Decline_SetsAddressAsideUntilHoldTimePasses()
    {
        var f = new EngineFixture(poolEnd: 101);
        var declined = f.Dora(1).YourAddress;
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Decline, 1, m =>
        {
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, EngineFixture.Server);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, declined);
        }));
        Assert.Null(outcome.Reply);
        Assert.Null(outcome.Drop);
        Assert.Equal(DhcpLeaseState.Declined, f.Store.LoadAll().Single(l => l.Address == declined).State);

        var next = f.Dora(1).YourAddress;
        Assert.NotEqual(declined, next);
        Assert.Equal(DhcpDropReason.PoolExhausted, f.Send(EngineFixture.Message(DhcpMessageType.Discover, 2)).Drop);
        f.Clock.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(declined, f.Dora(2).YourAddress);
    }

    [Fact]
    public void Release_MarksLeaseReleasedAndSameClientGetsItBack()
    {
        var f = new EngineFixture();
        var address = f.Dora(1).YourAddress;
        Assert.Null(f.Send(EngineFixture.Message(DhcpMessageType.Release, 1, m => m.ClientAddress = address)).Reply);
        Assert.Equal(0, f.Engine.ActiveLeaseCount);
        Assert.Equal(DhcpLeaseState.Released, Assert.Single(f.Store.LoadAll()).State);
        Assert.Equal(address, f.Dora(1).YourAddress);
    }

    [Fact]
    public void Release_ByOtherClient_IsIgnored()
    {
        var f = new EngineFixture();
        var address = f.Dora(1).YourAddress;
        Assert.Equal(DhcpDropReason.NotForUs, f.Send(EngineFixture.Message(DhcpMessageType.Release, 2, m => m.ClientAddress = address)).Drop);
        Assert.Equal(1, f.Engine.ActiveLeaseCount);
    }

    [Fact]
    public void Inform_AnswersOptionsWithoutLeaseTimeToCiaddr()
    {
        var f = new EngineFixture();
        var ciaddr = Ipv4Address.Parse("10.0.0.7");
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Inform, 1, m => m.ClientAddress = ciaddr));
        Assert.True(DhcpMessage.TryRead(outcome.Reply!.Payload, out var ack, out _));
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.Equal(Ipv4Address.Any, ack.YourAddress);
        Assert.False(ack.Options.Contains(DhcpOptionCode.IPAddressLeaseTime));
        Assert.Equal(new IPEndPoint(ciaddr.ToIPAddress(), 68), outcome.Reply.Destination);
        Assert.Equal(0, f.Engine.ActiveLeaseCount);
    }

    [Fact]
    public void Discover_Reservation_GetsReservedAddressAndHostName()
    {
        var f = new EngineFixture();
        var ack = f.Dora(0x99);
        Assert.Equal(Ipv4Address.Parse("10.0.0.50"), ack.YourAddress);
        Assert.Equal("node99", ack.Options.GetString(DhcpOptionCode.HostName));
    }

    [Fact]
    public void Discover_BroadcastFlag_RepliesBroadcast()
    {
        var f = new EngineFixture();
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Discover, 1, m => m.IsBroadcast = true));
        Assert.Equal(IPAddress.Broadcast, outcome.Reply!.Destination.Address);
    }

    [Fact]
    public void Discover_Relayed_UsesGiaddrSubnetAndUnicastsToRelayEchoingOption82()
    {
        var f = new EngineFixture();
        var info = RelayAgentInformation.Create([0, 4], "sw1"u8.ToArray());
        void Relayed(DhcpMessage m)
        {
            m.RelayAddress = Relay;
            m.Hops = 1;
            m.Options.Set(DhcpOptionCode.RelayAgentInformation, info.Raw);
        }

        var relay = new IPEndPoint(Relay.ToIPAddress(), 67);
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Discover, 1, Relayed), relay);
        Assert.Equal(relay, outcome.Reply!.Destination);
        Assert.True(DhcpMessage.TryRead(outcome.Reply.Payload, out var offer, out _));
        Assert.Equal(Ipv4Address.Parse("10.1.0.10"), offer.YourAddress);
        Assert.Equal(Relay, offer.RelayAddress);
        Assert.Equal(info.Raw, offer.Options.Get(DhcpOptionCode.RelayAgentInformation));
        Assert.Equal(600u, offer.Options.GetUInt32(DhcpOptionCode.IPAddressLeaseTime));

        var ack = f.Reply(EngineFixture.Message(DhcpMessageType.Request, 1, m =>
        {
            Relayed(m);
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, EngineFixture.Server);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, offer.YourAddress);
        }), relay)!;
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        var lease = f.Engine.FindByHardwareAddress("52:54:00:00:00:01")!;
        Assert.Equal(info.Raw, lease.RelayAgentInformation);
        Assert.Equal(Relay, lease.RelayAddress);
    }

    [Fact]
    public void Request_RelayedNak_SetsBroadcastBitAndGoesToRelay()
    {
        var f = new EngineFixture();
        var relay = new IPEndPoint(Relay.ToIPAddress(), 67);
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Request, 1, m =>
        {
            m.RelayAddress = Relay;
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, Ipv4Address.Parse("10.0.0.100"));
        }), relay);
        Assert.Equal(relay, outcome.Reply!.Destination);
        Assert.True(DhcpMessage.TryRead(outcome.Reply.Payload, out var nak, out _));
        Assert.Equal(DhcpMessageType.Nak, nak.Options.MessageType);
        Assert.True(nak.IsBroadcast);
    }

    [Fact]
    public void Discover_UnknownRelaySubnet_IsDroppedNoSubnet()
    {
        var f = new EngineFixture();
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Discover, 1, m => m.RelayAddress = Ipv4Address.Parse("172.16.0.1")));
        Assert.Equal(DhcpDropReason.NoSubnet, outcome.Drop);
        Assert.Equal(1, f.Engine.Counters.Dropped(DhcpDropReason.NoSubnet));
    }

    [Fact]
    public void Discover_FloodOfRandomMacs_IsBoundedAndOffersExpire()
    {
        var f = new EngineFixture(maxOffers: 100);
        f.Engine.Handle(EngineFixture.Message(DhcpMessageType.Discover, 1).ToArray(), new DhcpReceiveContext(EngineFixture.FromClient, 67));
        for (var mac = 2; mac < 5000; mac++)
        {
            f.Send(EngineFixture.Message(DhcpMessageType.Discover, mac));
        }

        // Pool of 10: the oldest offers are recycled, the table never grows past the pool.
        Assert.Equal(10, f.Engine.PendingOfferCount);
        Assert.True(f.Engine.Counters.Dropped(DhcpDropReason.OfferTableFull) > 4900);
        f.Clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(0, f.Engine.PendingOfferCount);
        Assert.Equal(DhcpMessageType.Ack, f.Dora(9000).Options.MessageType);
    }

    [Fact]
    public void Discover_FloodOnLargePool_HoldsAtMostHalfThePool()
    {
        var f = new EngineFixture(poolEnd: 199);
        for (var mac = 1; mac < 1000; mac++)
        {
            f.Send(EngineFixture.Message(DhcpMessageType.Discover, mac));
        }

        Assert.Equal(50, f.Engine.PendingOfferCount);
        Assert.Equal(DhcpMessageType.Ack, f.Dora(5000).Options.MessageType);
        Assert.Equal(1, f.Engine.ActiveLeaseCount);
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 1, 2, 3 })]
    public void Handle_Garbage_IsCountedMalformed(byte[] garbage)
    {
        var f = new EngineFixture();
        var outcome = f.Engine.Handle(garbage, new DhcpReceiveContext(EngineFixture.FromClient, 67));
        Assert.Equal(DhcpDropReason.Malformed, outcome.Drop);
        Assert.Equal(DhcpReadError.TooShort, outcome.ReadError);
        Assert.Equal(1, f.Engine.Counters.Malformed(DhcpReadError.TooShort));
    }

    [Fact]
    public void Handle_BootReply_IsNotARequest()
    {
        var f = new EngineFixture();
        Assert.Equal(DhcpDropReason.NotARequest, f.Send(EngineFixture.Message(DhcpMessageType.Discover, 1, m => m.Op = BootOp.BootReply)).Drop);
    }

    [Fact]
    public void Discover_PxeClient_GetsBootFileAndOption43()
    {
        var f = new EngineFixture();
        var offer = f.Reply(EngineFixture.Message(DhcpMessageType.Discover, 1, m =>
        {
            m.Options.SetString(DhcpOptionCode.VendorClassIdentifier, "PXEClient:Arch:00007:UNDI:003016");
            m.Options.SetUInt16(DhcpOptionCode.ClientArchitecture, 7);
            m.Options.Set(DhcpOptionCode.ParameterRequestList, [1, 3, 43, 60, 66, 67]);
        }))!;
        Assert.Equal("ipxe.efi", offer.BootFile);
        Assert.Equal(EngineFixture.Server, offer.ServerAddress);
        Assert.Equal("PXEClient", offer.Options.GetString(DhcpOptionCode.VendorClassIdentifier));
        Assert.Equal(PxeVendorOptions.DiscoveryControlBits.UseBootFileName, PxeVendorOptions.ReadDiscoveryControl(offer.Options.Get(DhcpOptionCode.VendorSpecific)!));
        Assert.Equal("ipxe.efi", offer.Options.GetString(DhcpOptionCode.BootFileName));
        Assert.Equal("10.0.0.1", offer.Options.GetString(DhcpOptionCode.TftpServerName));
    }

    [Fact]
    public void Discover_IpxeRomCapture_GetsScriptUrl()
    {
        var f = new EngineFixture();
        var outcome = f.Engine.Handle(Kldload.Dhcp.Tests.Protocol.Captures.Load("ipxe-rom-discover"), new DhcpReceiveContext(EngineFixture.FromClient, 67));
        Assert.True(DhcpMessage.TryRead(outcome.Reply!.Payload, out var offer, out _));
        Assert.Equal("http://10.0.0.1:8080/boot.ipxe", offer.BootFile);
        Assert.False(offer.Options.Contains(DhcpOptionCode.VendorSpecific));
    }

    [Fact]
    public void Discover_IpxeRomCaptureFullMode_OfferAndAckTellIpxeNotToWaitForProxyDhcp()
    {
        var f = new EngineFixture();
        var offerOutcome = f.Engine.Handle(Kldload.Dhcp.Tests.Protocol.Captures.Load("ipxe-rom-discover"), new DhcpReceiveContext(EngineFixture.FromClient, 67));
        Assert.True(DhcpMessage.TryRead(offerOutcome.Reply!.Payload, out var offer, out _));
        Assert.True(IpxeEncapsulatedOptions.TryRead(offer.Options.Get(DhcpOptionCode.IpxeEncapsulated)!, out var encapsulated));
        Assert.Equal(new byte[] { 1 }, encapsulated.Get(IpxeEncapsulatedOptions.NoPxeDhcp));

        var request = offerOutcome.Request!;
        request.Options.MessageType = DhcpMessageType.Request;
        request.Options.SetAddress(DhcpOptionCode.ServerIdentifier, EngineFixture.Server);
        request.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, offer.YourAddress);
        var ack = f.Reply(request)!;
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.Equal(IpxeEncapsulatedOptions.NoPxeDhcpValue(), ack.Options.Get(DhcpOptionCode.IpxeEncapsulated));
    }

    [Fact]
    public void Discover_NotIpxeFullMode_NoOption175()
    {
        var f = new EngineFixture();
        foreach (var capture in new[] { "dhclient-discover", "udhcpc-pxe-discover" })
        {
            var outcome = f.Engine.Handle(Kldload.Dhcp.Tests.Protocol.Captures.Load(capture), new DhcpReceiveContext(EngineFixture.FromClient, 67));
            Assert.True(DhcpMessage.TryRead(outcome.Reply!.Payload, out var offer, out _));
            Assert.False(offer.Options.Contains(DhcpOptionCode.IpxeEncapsulated), capture);
        }
    }

    [Fact]
    public void Proxy_IpxeRomCapture_NoOption175BecauseTheProxyOfferIsThePoint()
    {
        var f = new EngineFixture(DhcpServerMode.Proxy);
        var outcome = f.Engine.Handle(Kldload.Dhcp.Tests.Protocol.Captures.Load("ipxe-rom-discover"), new DhcpReceiveContext(EngineFixture.FromClient, 67));
        Assert.True(DhcpMessage.TryRead(outcome.Reply!.Payload, out var offer, out _));
        Assert.Equal(DhcpMessageType.Offer, offer.Options.MessageType);
        Assert.False(offer.Options.Contains(DhcpOptionCode.IpxeEncapsulated));

        var ack = f.Reply(EngineFixture.Message(DhcpMessageType.Request, 1, m =>
        {
            m.ClientAddress = Ipv4Address.Parse("10.0.0.42");
            m.Options.SetString(DhcpOptionCode.VendorClassIdentifier, "PXEClient:Arch:00000:UNDI:002001");
            m.Options.SetString(DhcpOptionCode.UserClass, "iPXE");
        }), new IPEndPoint(IPAddress.Parse("10.0.0.42"), 68), localPort: 4011)!;
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.False(ack.Options.Contains(DhcpOptionCode.IpxeEncapsulated));
    }

    [Fact]
    public void Discover_PlainClient_GetsNoBootFile()
    {
        var f = new EngineFixture();
        var outcome = f.Engine.Handle(Kldload.Dhcp.Tests.Protocol.Captures.Load("dhclient-discover"), new DhcpReceiveContext(EngineFixture.FromClient, 67));
        Assert.True(DhcpMessage.TryRead(outcome.Reply!.Payload, out var offer, out _));
        Assert.Equal(string.Empty, offer.BootFile);
        Assert.False(offer.Options.Contains(DhcpOptionCode.BootFileName));
    }

    [Fact]
    public void Proxy_PxeDiscover_OffersBootFileWithoutAddress()
    {
        var f = new EngineFixture(DhcpServerMode.Proxy);
        var outcome = f.Engine.Handle(Kldload.Dhcp.Tests.Protocol.Captures.Load("udhcpc-pxe-discover"), new DhcpReceiveContext(EngineFixture.FromClient, 67));
        Assert.True(DhcpMessage.TryRead(outcome.Reply!.Payload, out var offer, out _));
        Assert.Equal(DhcpMessageType.Offer, offer.Options.MessageType);
        Assert.Equal(Ipv4Address.Any, offer.YourAddress);
        Assert.Equal("ipxe.efi", offer.BootFile);
        Assert.False(offer.Options.Contains(DhcpOptionCode.IPAddressLeaseTime));
        Assert.Equal("PXEClient", offer.Options.GetString(DhcpOptionCode.VendorClassIdentifier));
        Assert.NotNull(offer.Options.Get(DhcpOptionCode.VendorSpecific));
        Assert.Equal(IPAddress.Broadcast, outcome.Reply.Destination.Address);
        Assert.Empty(f.Engine.Leases);
    }

    [Fact]
    public void Proxy_IpxeRomDiscover_OfferSaysPxeClientAndCarriesScriptUrl()
    {
        // QEMU's iPXE ROM: vendor class PXEClient, user class iPXE; the policy answers without a vendor class.
        var f = new EngineFixture(DhcpServerMode.Proxy);
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Discover, 1, m =>
        {
            m.Options.SetString(DhcpOptionCode.VendorClassIdentifier, "PXEClient:Arch:00000:UNDI:002001");
            m.Options.SetUInt16(DhcpOptionCode.ClientArchitecture, 0);
            m.Options.SetString(DhcpOptionCode.UserClass, "iPXE");
        }));
        Assert.True(DhcpMessage.TryRead(outcome.Reply!.Payload, out var offer, out _));
        Assert.Equal(Ipv4Address.Any, offer.YourAddress);
        Assert.Equal("PXEClient", offer.Options.GetString(DhcpOptionCode.VendorClassIdentifier));
        Assert.Equal("http://10.0.0.1:8080/boot.ipxe", offer.Options.GetString(DhcpOptionCode.BootFileName) ?? offer.BootFile);
    }

    [Fact]
    public void Proxy_NonPxeClient_IsIgnored()
    {
        var f = new EngineFixture(DhcpServerMode.Proxy);
        var outcome = f.Engine.Handle(Kldload.Dhcp.Tests.Protocol.Captures.Load("dhclient-discover"), new DhcpReceiveContext(EngineFixture.FromClient, 67));
        Assert.Null(outcome.Reply);
        Assert.Equal(DhcpDropReason.NotBootClient, outcome.Drop);
    }

    [Fact]
    public void Proxy_RequestOnPort4011_AcksToSourceWithBootFile()
    {
        var f = new EngineFixture(DhcpServerMode.Proxy);
        var client = new IPEndPoint(IPAddress.Parse("10.0.0.42"), 68);
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Request, 1, m =>
        {
            m.ClientAddress = Ipv4Address.Parse("10.0.0.42");
            m.Options.SetString(DhcpOptionCode.VendorClassIdentifier, "PXEClient:Arch:00000:UNDI:002001");
            m.Options.SetUInt16(DhcpOptionCode.ClientArchitecture, 0);
        }), client, localPort: 4011);
        Assert.Equal(client, outcome.Reply!.Destination);
        Assert.Equal(4011, outcome.Reply.LocalPort);
        Assert.True(DhcpMessage.TryRead(outcome.Reply.Payload, out var ack, out _));
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.Equal("undionly.kpxe", ack.BootFile);
    }

    [Fact]
    public void Proxy_RequestOnPort67ForOtherServer_IsIgnored()
    {
        var f = new EngineFixture(DhcpServerMode.Proxy);
        var outcome = f.Send(EngineFixture.Message(DhcpMessageType.Request, 1, m =>
        {
            m.Options.SetString(DhcpOptionCode.VendorClassIdentifier, "PXEClient");
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, Ipv4Address.Parse("10.0.0.2"));
        }));
        Assert.Equal(DhcpDropReason.NotForUs, outcome.Drop);
    }

    [Fact]
    public void Engine_RestartFromStore_KeepsLeasesAndNeverDoublesAnAddress()
    {
        var store = new InMemoryLeaseStore();
        var f1 = new EngineFixture(store: store);
        var a = f1.Dora(1).YourAddress;
        var f2 = new EngineFixture(store: store);
        var b = f2.Dora(2).YourAddress;
        Assert.NotEqual(a, b);
        Assert.Equal(a, f2.Dora(1).YourAddress);
    }

    [Fact]
    public void Discover_PlainClientAskingForOption67_GetsBootFileInFullModeOnly()
    {
        static DhcpMessage Asking() => EngineFixture.Message(DhcpMessageType.Discover, 1, m => m.Options.Set(DhcpOptionCode.ParameterRequestList, [1, 3, 66, 67]));
        var full = new EngineFixture().Reply(Asking())!;
        Assert.Equal("undionly.kpxe", full.Options.GetString(DhcpOptionCode.BootFileName));
        Assert.Equal(DhcpDropReason.NotBootClient, new EngineFixture(DhcpServerMode.Proxy).Send(Asking()).Drop);
    }
}
