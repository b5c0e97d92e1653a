using System.Net;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Server;

/// <summary>The reply alone: header, lease options, NAK and destination (RFC 2131 section 4.1 and table 3).</summary>
public class DhcpReplyBuilderTests
{
    private static readonly Ipv4Address Relay = Ipv4Address.Parse("10.1.0.1");
    private static readonly DhcpReceiveContext FromClient = new(EngineFixture.FromClient, DhcpEngine.ServerPort);

    private static DhcpReplyBuilder Builder()
    {
        var options = new EngineFixture().Options;
        var reservations = new ReservationBook(options.Reservations);
        return new DhcpReplyBuilder(options, reservations, new DhcpBootOptionBuilder(options.ServerAddress, new FixedBootPolicy()));
    }

    private static DhcpSubnet Subnet0 => new EngineFixture().Options.Subnets[0];

    [Fact]
    public void Lease_Offer_LeaseTimesAndNetworkOptionsFromTheSubnet()
    {
        var request = EngineFixture.Message(DhcpMessageType.Discover, 1);
        var address = Ipv4Address.Parse("10.0.0.100");

        var reply = Builder().Lease(DhcpMessageType.Offer, request, FromClient, Subnet0, address).Reply!;

        Assert.True(DhcpMessage.TryRead(reply.Payload, out var m, out _));
        Assert.Equal(BootOp.BootReply, m.Op);
        Assert.Equal(request.TransactionId, m.TransactionId);
        Assert.Equal(address, m.YourAddress);
        Assert.Equal(3600u, m.Options.GetUInt32(DhcpOptionCode.IPAddressLeaseTime));
        Assert.Equal(1800u, m.Options.GetUInt32(DhcpOptionCode.RenewalTime));
        Assert.Equal(3150u, m.Options.GetUInt32(DhcpOptionCode.RebindingTime));
        Assert.Equal(EngineFixture.Server, m.Options.GetAddress(DhcpOptionCode.ServerIdentifier));
        Assert.Equal("rack.test", m.Options.GetString(DhcpOptionCode.DomainName));
        Assert.Equal(new IPEndPoint(IPAddress.Broadcast, DhcpEngine.ClientPort), reply.Destination);
    }

    [Fact]
    public void Lease_InformAck_NoLeaseTimeAndUnicastToCiaddr()
    {
        var ciaddr = Ipv4Address.Parse("10.0.0.77");
        var request = EngineFixture.Message(DhcpMessageType.Inform, 1, m => m.ClientAddress = ciaddr);

        var reply = Builder().Lease(DhcpMessageType.Ack, request, FromClient, Subnet0, Ipv4Address.Any, inform: true).Reply!;

        Assert.False(reply.Message.Options.Contains(DhcpOptionCode.IPAddressLeaseTime));
        Assert.Equal(ciaddr, reply.Message.ClientAddress);
        Assert.Equal(new IPEndPoint(ciaddr.ToIPAddress(), DhcpEngine.ClientPort), reply.Destination);
    }

    [Fact]
    public void Nak_Relayed_BroadcastBitToTheRelayWithOption82Echoed()
    {
        byte[] agent = [1, 3, (byte)'s', (byte)'w', (byte)'1'];
        var request = EngineFixture.Message(DhcpMessageType.Request, 1, m =>
        {
            m.RelayAddress = Relay;
            m.Options.Set(DhcpOptionCode.RelayAgentInformation, agent);
        });
        var fromRelay = new DhcpReceiveContext(new IPEndPoint(Relay.ToIPAddress(), DhcpEngine.ServerPort), DhcpEngine.ServerPort);

        var reply = Builder().Nak(request, fromRelay, "wrong subnet").Reply!;

        Assert.Equal(DhcpMessageType.Nak, reply.Type);
        Assert.True(reply.Message.IsBroadcast);
        Assert.Equal(Ipv4Address.Any, reply.Message.ServerAddress);
        Assert.Equal("wrong subnet", reply.Message.Options.GetString(DhcpOptionCode.Message));
        Assert.Equal(agent, reply.Message.Options.Get(DhcpOptionCode.RelayAgentInformation));
        Assert.Equal(new IPEndPoint(Relay.ToIPAddress(), DhcpEngine.ServerPort), reply.Destination);
    }

    [Theory]
    [InlineData(DhcpMessageType.Ack, "10.0.0.77", 68, "10.0.0.77:68")]
    [InlineData(DhcpMessageType.Nak, "10.0.0.77", 68, "255.255.255.255:68")]
    [InlineData(DhcpMessageType.Offer, "0.0.0.0", 68, "255.255.255.255:68")]
    [InlineData(DhcpMessageType.Ack, "10.0.0.77", 1068, "10.0.0.77:1068")]
    [InlineData(DhcpMessageType.Ack, "10.0.0.77", 67, "10.0.0.77:68")]
    public void Destination_NotRelayed_FollowsRfc2131Section41(DhcpMessageType type, string ciaddr, int sourcePort, string expected)
    {
        var request = EngineFixture.Message(DhcpMessageType.Request, 1, m => m.ClientAddress = Ipv4Address.Parse(ciaddr));
        var context = new DhcpReceiveContext(new IPEndPoint(IPAddress.Any, sourcePort), DhcpEngine.ServerPort);

        Assert.Equal(IPEndPoint.Parse(expected), DhcpReplyBuilder.Destination(request, context, type));
    }
}
