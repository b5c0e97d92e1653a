using System.Net;
using System.Text;
using Kldload.Dhcp.Dhcp6.Protocol;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Server;
using Kldload.Dhcp.Tests.Server;

namespace Kldload.Dhcp.Tests.Dhcp6;

/// <summary>An engine on fd00:10::/64 (pool ::100-::10f) and a relayed fd00:20::/64 (pool ::10-::13).</summary>
internal sealed class Engine6Fixture
{
    public static readonly IPAddress Server = IPAddress.Parse("fd00:10::1");
    public static readonly IPEndPoint FromClient = new(IPAddress.Parse("fe80::5054:ff:fe00:1"), Dhcp6Engine.ClientPort);
    public static readonly IPEndPoint FromRelay = new(IPAddress.Parse("fd00:20::1"), Dhcp6Engine.ServerPort);
    public static readonly Duid ServerDuid = Duid.FromMac([0x02, 0, 0, 0, 0, 0x01]);

    public Engine6Fixture(Dhcp6ServerMode mode = Dhcp6ServerMode.Full, int poolEnd = 0x10f, IDhcp6LeaseStore? store = null, IEnumerable<Dhcp6Reservation>? reservations = null)
    {
        Store = store ?? new InMemoryDhcp6LeaseStore();
        Options = new Dhcp6ServerOptions
        {
            Mode = mode,
            ServerDuid = ServerDuid,
            ServerAddress = Server,
            Subnets =
            [
                new Dhcp6Subnet
                {
                    Prefix = IPNetwork.Parse("fd00:10::/64"), PoolStart = IPAddress.Parse("fd00:10::100"), PoolEnd = IPAddress.Parse($"fd00:10::{poolEnd:x}"),
                    PreferredLifetime = TimeSpan.FromMinutes(50), ValidLifetime = TimeSpan.FromHours(1), DnsServers = [Server],
                },
                new Dhcp6Subnet { Prefix = IPNetwork.Parse("fd00:20::/64"), PoolStart = IPAddress.Parse("fd00:20::10"), PoolEnd = IPAddress.Parse("fd00:20::13") },
            ],
            Reservations = reservations?.ToList() ?? [],
        };
        Engine = new Dhcp6Engine(Options, Store, new FixedBootPolicy(), Clock);
    }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public IDhcp6LeaseStore Store { get; }

    public Dhcp6ServerOptions Options { get; }

    public Dhcp6Engine Engine { get; }

    public static byte[] Mac(int n) => [0x52, 0x54, 0x00, 0x00, (byte)(n >> 8), (byte)n];

    /// <summary>A client message from the client with MAC <see cref="Mac"/>(n) (DUID-LL), one IA_NA (IAID n).</summary>
    public static Dhcp6Message Message(Dhcp6MessageType type, int n, Action<Dhcp6Message>? edit = null, IPAddress? hint = null)
    {
        var m = new Dhcp6Message { MessageType = type, TransactionId = (uint)(0x10000 + n) };
        m.Options.Add(Dhcp6OptionCode.ClientId, Duid.FromMac(Mac(n)).Bytes);
        if (type is Dhcp6MessageType.Request or Dhcp6MessageType.Renew or Dhcp6MessageType.Release or Dhcp6MessageType.Decline)
        {
            m.Options.Add(Dhcp6OptionCode.ServerId, ServerDuid.Bytes);
        }

        var ia = new IaNa { Iaid = (uint)n };
        if (hint is not null)
        {
            ia.Options.Add(Dhcp6OptionCode.IaAddress, new IaAddress { Address = hint }.ToArray());
        }

        m.Options.Add(Dhcp6OptionCode.IaNa, ia.ToArray());
        m.Options.Add(Dhcp6OptionCode.OptionRequest, Dhcp6Options.UInt16List([23]));
        edit?.Invoke(m);
        return m;
    }

    public Dhcp6Outcome Send(Dhcp6Message m, IPEndPoint? from = null) => Engine.Handle(m.ToArray(), from ?? FromClient);

    public Dhcp6Message Answer(Dhcp6Message m, IPEndPoint? from = null)
    {
        var outcome = Send(m, from);
        Assert.True(outcome.Reply is not null, $"no reply: {outcome.Drop} {outcome.ReadError}");
        return outcome.Reply!.Message;
    }

    /// <summary>SOLICIT, then REQUEST of the advertised address: the address bound.</summary>
    public IPAddress Bind(int n)
    {
        var advertise = Answer(Message(Dhcp6MessageType.Solicit, n));
        var offered = advertise.Options.IaNas[0].Options.IaAddresses[0].Address;
        var reply = Answer(Message(Dhcp6MessageType.Request, n, hint: offered));
        Assert.Equal(offered, reply.Options.IaNas[0].Options.IaAddresses[0].Address);
        return offered;
    }
}

public class Dhcp6EngineTests
{
    [Fact]
    public void Solicit_Advertises_AnAddressFromThePool_WithoutBinding()
    {
        var f = new Engine6Fixture();
        var outcome = f.Send(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1));
        var reply = outcome.Reply!;
        Assert.False(reply.NeedsDurableLease);
        Assert.Equal(Dhcp6MessageType.Advertise, reply.Message.MessageType);
        Assert.Equal(0x10001u, reply.Message.TransactionId);
        Assert.Equal(Engine6Fixture.ServerDuid, reply.Message.Options.ServerId);
        Assert.Equal(Duid.FromMac(Engine6Fixture.Mac(1)), reply.Message.Options.ClientId);
        var ia = Assert.Single(reply.Message.Options.IaNas);
        Assert.Equal(1u, ia.Iaid);
        Assert.Equal((1500u, 2400u), (ia.T1, ia.T2));
        var a = Assert.Single(ia.Options.IaAddresses);
        Assert.Equal(IPAddress.Parse("fd00:10::100"), a.Address);
        Assert.Equal((3000u, 3600u), (a.PreferredLifetime, a.ValidLifetime));
        Assert.Equal(new byte[16].Length, reply.Message.Options.Get(Dhcp6OptionCode.DnsServers)!.Length);
        Assert.Empty(f.Store.LoadAll());
        Assert.Equal(Engine6Fixture.FromClient, reply.Destination);
    }

    [Fact]
    public void Request_BindsTheAdvertisedAddress_AndWaitsForTheStore()
    {
        var f = new Engine6Fixture();
        var advertise = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1));
        var offered = advertise.Options.IaNas[0].Options.IaAddresses[0].Address;
        var outcome = f.Send(Engine6Fixture.Message(Dhcp6MessageType.Request, 1));
        Assert.True(outcome.Reply!.NeedsDurableLease);
        Assert.Equal(Dhcp6MessageType.Reply, outcome.Reply.Message.MessageType);
        Assert.Equal(offered, outcome.Reply.Message.Options.IaNas[0].Options.IaAddresses[0].Address);
        var lease = Assert.Single(f.Store.LoadAll());
        Assert.Equal(offered, lease.Address);
        Assert.Equal("00:03:00:01:52:54:00:00:00:01", lease.ClientDuid);
        Assert.Equal("52:54:00:00:00:01", lease.HardwareAddress);
        Assert.Equal(1u, lease.Iaid);
        Assert.Equal(DhcpLeaseState.Active, lease.State);
        Assert.Equal(f.Clock.GetUtcNow() + TimeSpan.FromHours(1), lease.Expires);
        Assert.Equal(1, f.Engine.ActiveLeaseCount);
    }

    [Fact]
    public void Solicit_AdvertisedAddress_IsNotAdvertisedToAnotherClient()
    {
        var f = new Engine6Fixture();
        var first = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1)).Options.IaNas[0].Options.IaAddresses[0].Address;
        var second = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 2)).Options.IaNas[0].Options.IaAddresses[0].Address;
        var again = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1)).Options.IaNas[0].Options.IaAddresses[0].Address;
        Assert.NotEqual(first, second);
        Assert.Equal(first, again);
    }

    [Fact]
    public void SolicitWithRapidCommit_RepliesAndBinds()
    {
        var f = new Engine6Fixture();
        var outcome = f.Send(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 3, m => m.Options.Add(Dhcp6OptionCode.RapidCommit, [])));
        Assert.Equal(Dhcp6MessageType.Reply, outcome.Reply!.Message.MessageType);
        Assert.True(outcome.Reply.Message.Options.RapidCommit);
        Assert.True(outcome.Reply.NeedsDurableLease);
        Assert.Single(f.Store.LoadAll());
    }

    [Fact]
    public void PoolExhausted_IaCarriesNoAddrsAvail()
    {
        var f = new Engine6Fixture(poolEnd: 0x101);
        f.Bind(1);
        f.Bind(2);
        var reply = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Request, 3));
        var ia = Assert.Single(reply.Options.IaNas);
        Assert.Empty(ia.Options.IaAddresses);
        Assert.Equal(Dhcp6StatusCode.NoAddrsAvail, ia.Options.Status!.Code);
    }

    [Fact]
    public void Renew_ExtendsTheBinding_UnknownIaGetsNoBinding()
    {
        var f = new Engine6Fixture();
        var address = f.Bind(1);
        f.Clock.Advance(TimeSpan.FromMinutes(30));
        var reply = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Renew, 1, hint: address));
        Assert.Equal(address, reply.Options.IaNas[0].Options.IaAddresses[0].Address);
        Assert.Equal(f.Clock.GetUtcNow() + TimeSpan.FromHours(1), f.Store.LoadAll().Single().Expires);

        var unknown = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Renew, 9));
        Assert.Equal(Dhcp6StatusCode.NoBinding, unknown.Options.IaNas[0].Options.Status!.Code);
    }

    [Fact]
    public void Release_FreesTheAddress_ForTheNextClient()
    {
        var f = new Engine6Fixture(poolEnd: 0x100);
        var address = f.Bind(1);
        var reply = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Release, 1, hint: address));
        Assert.Equal(Dhcp6StatusCode.Success, reply.Options.Status!.Code);
        Assert.Equal(DhcpLeaseState.Released, f.Store.LoadAll().Single().State);
        Assert.Equal(address, f.Bind(2));
    }

    [Fact]
    public void ReleaseByOperator_ActiveLease_FreesTheAddressDurably()
    {
        var f = new Engine6Fixture(poolEnd: 0x100);
        var address = f.Bind(1);
        var store = (InMemoryDhcp6LeaseStore)f.Store;
        var flushes = store.FlushCount;
        var before = f.Engine.ReleaseByOperator(address);
        Assert.Equal(DhcpLeaseState.Active, before!.State);
        Assert.Equal(DhcpLeaseState.Released, f.Store.LoadAll().Single().State);
        Assert.True(store.FlushCount > flushes);
        Assert.Null(f.Engine.ReleaseByOperator(address)); // released already
        Assert.Null(f.Engine.ReleaseByOperator(IPAddress.Parse("fd00:10::ffff"))); // no record
        Assert.Equal(address, f.Bind(2));
    }

    [Fact]
    public void ReleaseByOperator_DeclinedAddress_EndsTheHoldNow()
    {
        var f = new Engine6Fixture(poolEnd: 0x100);
        var address = f.Bind(1);
        f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Decline, 1, hint: address));
        Assert.Equal(DhcpLeaseState.Declined, f.Engine.ReleaseByOperator(address)!.State);
        Assert.Equal(address, f.Bind(2));
    }

    [Fact]
    public void Decline_KeepsTheAddressOutOfThePool_UntilTheHoldEnds()
    {
        var f = new Engine6Fixture(poolEnd: 0x100);
        var address = f.Bind(1);
        f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Decline, 1, hint: address));
        Assert.Equal(DhcpLeaseState.Declined, f.Store.LoadAll().Single().State);
        var refused = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 2));
        Assert.Equal(Dhcp6StatusCode.NoAddrsAvail, refused.Options.IaNas[0].Options.Status!.Code);
        f.Clock.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(address, f.Bind(2));
    }

    [Fact]
    public void Confirm_OnLinkSucceeds_OffLinkIsNotOnLink_NoAddressIsNotAnswered()
    {
        var f = new Engine6Fixture();
        Assert.Equal(Dhcp6StatusCode.Success, f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Confirm, 1, hint: IPAddress.Parse("fd00:10::abc"))).Options.Status!.Code);
        Assert.Equal(Dhcp6StatusCode.NotOnLink, f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Confirm, 1, hint: IPAddress.Parse("fd00:99::1"))).Options.Status!.Code);
        Assert.Equal(Dhcp6DropReason.NothingToConfirm, f.Send(Engine6Fixture.Message(Dhcp6MessageType.Confirm, 1)).Drop);
    }

    [Fact]
    public void RequestForAnotherServer_OrWithoutClientId_IsDroppedAndCounted()
    {
        var f = new Engine6Fixture();
        var other = Engine6Fixture.Message(Dhcp6MessageType.Request, 1, m => m.Options.Set(Dhcp6OptionCode.ServerId, Duid.FromMac([2, 0, 0, 0, 0, 9]).Bytes));
        Assert.Equal(Dhcp6DropReason.NotForUs, f.Send(other).Drop);
        var noClient = Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1, m => m.Options.Remove(Dhcp6OptionCode.ClientId));
        Assert.Equal(Dhcp6DropReason.InvalidMessage, f.Send(noClient).Drop);
        var solicitWithServer = Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1, m => m.Options.Add(Dhcp6OptionCode.ServerId, Engine6Fixture.ServerDuid.Bytes));
        Assert.Equal(Dhcp6DropReason.InvalidMessage, f.Send(solicitWithServer).Drop);
        Assert.Equal(1, f.Engine.Counters.Dropped(Dhcp6DropReason.NotForUs));
        Assert.Equal(2, f.Engine.Counters.Dropped(Dhcp6DropReason.InvalidMessage));
        Assert.Equal(1, f.Engine.Counters.Received(Dhcp6MessageType.Request));
        Assert.Equal(2, f.Engine.Counters.Received(Dhcp6MessageType.Solicit));
    }

    [Fact]
    public void Malformed_IsDroppedAndCountedByError()
    {
        var f = new Engine6Fixture();
        Assert.Equal(Dhcp6DropReason.Malformed, f.Engine.Handle([1, 0, 0], Engine6Fixture.FromClient).Drop);
        Assert.Equal(Dhcp6DropReason.Malformed, f.Engine.Handle([1, 0, 0, 0, 0, 1, 0, 9, 1], Engine6Fixture.FromClient).Drop);
        Assert.Equal(Dhcp6DropReason.Malformed, f.Engine.Handle(Dhcp6Captures.Load("kea-advertise-dhclient").AsSpan(0, 1).ToArray(), Engine6Fixture.FromClient).Drop);
        Assert.Equal(1, f.Engine.Counters.Malformed(Dhcp6ReadError.OptionTruncated));
        Assert.Equal(2, f.Engine.Counters.Malformed(Dhcp6ReadError.TooShort));
        Assert.Equal(3, f.Engine.Counters.Dropped(Dhcp6DropReason.Malformed));
        Assert.Equal(Dhcp6DropReason.NotARequest, f.Engine.Handle(Dhcp6Captures.Load("kea-advertise-dhclient"), Engine6Fixture.FromClient).Drop);
    }

    [Fact]
    public void CapturedDhclientExchange_IsAnsweredFromThePool()
    {
        // dhclient's own SOLICIT, and its REQUEST rewritten to name this server.
        var f = new Engine6Fixture();
        var advertise = f.Engine.Handle(Dhcp6Captures.Load("dhclient-solicit"), Engine6Fixture.FromClient).Reply!.Message;
        Assert.Equal(Dhcp6MessageType.Advertise, advertise.MessageType);
        Assert.True(Dhcp6Message.TryRead(Dhcp6Captures.Load("dhclient-request"), out var request, out _));
        request.Options.Set(Dhcp6OptionCode.ServerId, Engine6Fixture.ServerDuid.Bytes);
        var reply = f.Answer(request);
        Assert.Equal(advertise.Options.IaNas[0].Options.IaAddresses[0].Address, reply.Options.IaNas[0].Options.IaAddresses[0].Address);
        Assert.Equal(0x12ccdf4eu, reply.Options.IaNas[0].Iaid);
    }

    [Fact]
    public void Reservation_ByDuid_AndByMacInsideDuidLlt_WinOverThePool()
    {
        var byDuid = new Dhcp6Reservation { Address = IPAddress.Parse("fd00:10::50"), Duid = Duid.FromMac(Engine6Fixture.Mac(1)) };
        var byMac = new Dhcp6Reservation { Address = IPAddress.Parse("fd00:10::51"), HardwareAddress = "52:54:00:00:00:02" };
        var f = new Engine6Fixture(reservations: [byDuid, byMac]);
        Assert.Equal(byDuid.Address, f.Bind(1));

        // DUID-LLT of MAC 2: the reservation by MAC matches the address inside it.
        byte[] llt = [0, 1, 0, 1, 0x32, 0xa8, 0xd8, 0x50, .. Engine6Fixture.Mac(2)];
        var solicit = Engine6Fixture.Message(Dhcp6MessageType.Solicit, 2, m => m.Options.Set(Dhcp6OptionCode.ClientId, llt));
        Assert.Equal(byMac.Address, f.Answer(solicit).Options.IaNas[0].Options.IaAddresses[0].Address);

        // Nobody else is given a reserved address, even when asking for it.
        var grab = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 3, hint: byMac.Address));
        Assert.Equal(IPAddress.Parse("fd00:10::100"), grab.Options.IaNas[0].Options.IaAddresses[0].Address);
    }

    [Fact]
    public void Relayed_Solicit_UsesTheRelayLink_AndRepliesInRelayReply_WithInterfaceId()
    {
        var f = new Engine6Fixture();
        var relay = new Dhcp6RelayMessage { LinkAddress = IPAddress.Parse("fd00:20::1"), PeerAddress = IPAddress.Parse("fe80::5054:ff:fe00:7") };
        relay.Options.Add(Dhcp6OptionCode.InterfaceId, "eth7"u8.ToArray());
        relay.Options.Add(Dhcp6OptionCode.RemoteId, [0, 0, 0, 9, .. "port7"u8]);
        relay.Options.Add(Dhcp6OptionCode.ClientLinkLayerAddress, [0, 1, .. Engine6Fixture.Mac(7)]);
        var solicit = Engine6Fixture.Message(Dhcp6MessageType.Solicit, 7, m => m.Options.Set(Dhcp6OptionCode.ClientId, [0, 2, 0, 0, 0, 9, 1, 2, 3]));
        solicit.Options.Add(Dhcp6OptionCode.RapidCommit, []);
        relay.Options.Add(Dhcp6OptionCode.RelayMessage, solicit.ToArray());

        var outcome = f.Engine.Handle(relay.ToArray(), Engine6Fixture.FromRelay);
        var reply = outcome.Reply!;
        Assert.Equal(Engine6Fixture.FromRelay, reply.Destination);
        Assert.True(Dhcp6Envelope.TryRead(reply.Payload, out var envelope, out _));
        var back = Assert.Single(envelope!.Relays);
        Assert.Equal(Dhcp6MessageType.RelayReply, back.MessageType);
        Assert.Equal("eth7"u8.ToArray(), back.InterfaceId);
        Assert.Equal(relay.PeerAddress, back.PeerAddress);
        Assert.Equal(IPAddress.Parse("fd00:20::10"), envelope.Message.Options.IaNas[0].Options.IaAddresses[0].Address);
        var lease = f.Store.LoadAll().Single();
        Assert.Equal("52:54:00:00:00:07", lease.HardwareAddress);
        Assert.Equal(IPAddress.Parse("fd00:20::1"), lease.RelayLinkAddress);
        Assert.Equal([0, 0, 0, 9, .. "port7"u8], lease.RemoteId);
        Assert.Equal(1, f.Engine.Counters.Received(Dhcp6MessageType.RelayForward));
        Assert.Equal(1, f.Engine.Counters.Sent(Dhcp6MessageType.RelayReply));
    }

    [Fact]
    public void Relayed_FromAnUnknownLink_IsNoSubnet()
    {
        var f = new Engine6Fixture();
        var relay = new Dhcp6RelayMessage { LinkAddress = IPAddress.Parse("fd00:99::1"), PeerAddress = IPAddress.Parse("fe80::1") };
        relay.Options.Add(Dhcp6OptionCode.RelayMessage, Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1).ToArray());
        Assert.Equal(Dhcp6DropReason.NoSubnet, f.Engine.Handle(relay.ToArray(), Engine6Fixture.FromRelay).Drop);
    }

    [Fact]
    public void UefiPxeClient_Arch7_GetsTftpUrlToTheServerAddress_WithoutPxeVendorClassInFullMode()
    {
        // An address, a boot file URL and no PXEClient: EDK2's "DHCP only with boot file" offer, complete
        // by itself (with PXEClient it would ask a boot server on UDP 4011 for the file again).
        var f = new Engine6Fixture();
        var advertise = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1, UefiPxe(7)));
        Assert.Equal("tftp://[fd00:10::1]/ipxe.efi", advertise.Options.BootFileUrl);
        Assert.Null(advertise.Options.VendorClass);
        Assert.Single(advertise.Options.IaNas[0].Options.IaAddresses);
    }

    [Fact]
    public void UefiPxeClient_DuidUuidFromEui64LinkLocal_LeaseRecordsTheMacOfTheLinkLocalAddress()
    {
        // EDK2's PXE client names itself by DUID-UUID (type 4), which carries no MAC; its link-local
        // address is the MAC's modified EUI-64 (52:54:00:e2:e6:21 -> 5054:00ff:fee2:e621, U/L bit flipped).
        var f = new Engine6Fixture();
        var from = new IPEndPoint(IPAddress.Parse("fe80::5054:ff:fee2:e621"), Dhcp6Engine.ClientPort);
        byte[] duidUuid = [0, 4, .. Guid.Parse("8c1f52a4-63e0-4c6e-9d0c-0e5c1f2b3a4d").ToByteArray()];
        void AsUefi(Dhcp6Message m)
        {
            UefiPxe(7)(m);
            m.Options.Set(Dhcp6OptionCode.ClientId, duidUuid);
        }

        var advertise = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 7, AsUefi), from);
        var offered = advertise.Options.IaNas[0].Options.IaAddresses[0].Address;
        var reply = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Request, 7, AsUefi, offered), from);

        Assert.Equal(offered, reply.Options.IaNas[0].Options.IaAddresses[0].Address);
        var lease = Assert.Single(f.Engine.Leases, l => l.Address.Equals(offered));
        Assert.Equal("52:54:00:e2:e6:21", lease.HardwareAddress);
    }

    [Theory]
    [InlineData("fe80::5054:ff:fee2:e621", false, "52:54:00:e2:e6:21")]
    [InlineData("fe80::1", false, "")] // not an EUI-64 identifier: no MAC guessed
    [InlineData("fd00:10::5054:ff:fee2:e621", false, "")] // not link-local
    [InlineData("fe80::5054:ff:fee2:e621", true, "")] // relayed: the source is the relay, not the client
    public void MacOf_DuidWithoutMac_OnlyFromTheEui64LinkLocalSourceOfAnOnLinkClient(string source, bool relayed, string expected)
    {
        var m = Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1, m => m.Options.Set(Dhcp6OptionCode.ClientId, [0, 4, .. new byte[16]]));
        IReadOnlyList<Dhcp6RelayMessage> relays = relayed
            ? [new Dhcp6RelayMessage { MessageType = Dhcp6MessageType.RelayForward, LinkAddress = IPAddress.Parse("fd00:20::1"), PeerAddress = IPAddress.Parse(source) }]
            : [];

        Assert.Equal(expected, Dhcp6Engine.MacOf(new Dhcp6Envelope(relays, m), new IPEndPoint(IPAddress.Parse(source), Dhcp6Engine.ClientPort)));
    }

    [Fact]
    public void UefiHttpClient_Arch16_GetsTheHttpUrl_IpxeGetsItsScript_PlainClientNothing()
    {
        var f = new Engine6Fixture();
        var http = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1, m =>
        {
            m.Options.Add(Dhcp6OptionCode.ClientArchitecture, Dhcp6Options.UInt16List([16]));
            m.Options.Add(Dhcp6OptionCode.VendorClass, new VendorClass(343, [Encoding.ASCII.GetBytes("HTTPClient:Arch:00016")]).ToArray());
        }));
        Assert.Equal("http://10.0.0.1:8080/tftp/ipxe.efi", http.Options.BootFileUrl);
        Assert.True(http.Options.VendorClass!.IsHttpClient);

        var ipxe = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 2, m => m.Options.Add(Dhcp6OptionCode.UserClass, LengthPrefixedList.ToArray(["iPXE"u8.ToArray()]))));
        Assert.Equal("http://10.0.0.1:8080/boot.ipxe", ipxe.Options.BootFileUrl);

        var plain = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 3));
        Assert.Null(plain.Options.BootFileUrl);
        Assert.Null(plain.Options.VendorClass);
    }

    [Fact]
    public void Proxy_AnswersBootClientsWithoutAddresses_AndIgnoresOthers()
    {
        var f = new Engine6Fixture(Dhcp6ServerMode.Proxy);
        var advertise = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1, UefiPxe(7)));
        Assert.Equal(Dhcp6MessageType.Advertise, advertise.MessageType);
        Assert.Empty(advertise.Options.IaNas);
        Assert.Equal("tftp://[fd00:10::1]/ipxe.efi", advertise.Options.BootFileUrl);
        Assert.True(advertise.Options.VendorClass!.IsPxeClient);

        var reply = f.Answer(Engine6Fixture.Message(Dhcp6MessageType.Request, 1, UefiPxe(7)));
        Assert.Equal(Dhcp6MessageType.Reply, reply.MessageType);
        Assert.Empty(reply.Options.IaNas);
        Assert.Equal("tftp://[fd00:10::1]/ipxe.efi", reply.Options.BootFileUrl);

        Assert.Equal(Dhcp6DropReason.NotBootClient, f.Send(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 2)).Drop);
        Assert.Equal(Dhcp6DropReason.NotForUs, f.Send(Engine6Fixture.Message(Dhcp6MessageType.Renew, 1, UefiPxe(7))).Drop);
        Assert.Empty(f.Store.LoadAll());
    }

    [Fact]
    public void InformationRequest_GetsDnsAndBootOptions_WithoutAnIa()
    {
        var f = new Engine6Fixture();
        var info = Engine6Fixture.Message(Dhcp6MessageType.InformationRequest, 1, m =>
        {
            m.Options.Remove(Dhcp6OptionCode.IaNa);
            UefiPxe(7)(m);
        });
        var reply = f.Answer(info);
        Assert.Equal(Dhcp6MessageType.Reply, reply.MessageType);
        Assert.Empty(reply.Options.IaNas);
        Assert.NotNull(reply.Options.Get(Dhcp6OptionCode.DnsServers));
        Assert.Equal("tftp://[fd00:10::1]/ipxe.efi", reply.Options.BootFileUrl);
    }

    [Fact]
    public void Restart_WithTheSameStore_KeepsBindings()
    {
        var store = new InMemoryDhcp6LeaseStore();
        var first = new Engine6Fixture(store: store);
        var address = first.Bind(1);
        var second = new Engine6Fixture(store: store);
        Assert.Equal(address, second.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 1)).Options.IaNas[0].Options.IaAddresses[0].Address);
        Assert.NotEqual(address, second.Answer(Engine6Fixture.Message(Dhcp6MessageType.Solicit, 2)).Options.IaNas[0].Options.IaAddresses[0].Address);
    }

    [Fact]
    public void RandomDatagrams_NeverThrow()
    {
        var f = new Engine6Fixture();
        var random = new Random(6);
        var seeds = Dhcp6Captures.Names.Select(Dhcp6Captures.Load).ToList();
        for (var i = 0; i < 5000; i++)
        {
            var bytes = (byte[])seeds[i % seeds.Count].Clone();
            for (var k = 0; k < 1 + (i % 4); k++)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            var outcome = f.Engine.Handle(bytes.AsSpan(0, random.Next(bytes.Length + 1)), Engine6Fixture.FromClient);
            Assert.True(outcome.Reply is not null || outcome.Drop is not null);
        }
    }

    private static Action<Dhcp6Message> UefiPxe(ushort arch) => m =>
    {
        m.Options.Add(Dhcp6OptionCode.ClientArchitecture, Dhcp6Options.UInt16List([arch]));
        m.Options.Add(Dhcp6OptionCode.VendorClass, new VendorClass(343, [Encoding.ASCII.GetBytes($"PXEClient:Arch:{arch:D5}:UNDI:003016")]).ToArray());
        m.Options.Set(Dhcp6OptionCode.OptionRequest, Dhcp6Options.UInt16List([23, 59, 60]));
    };
}
