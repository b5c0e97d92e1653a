using System.Net;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>
/// Owns how a reply is made once <see cref="DhcpEngine"/> has decided to send one: the BOOTREPLY header
/// (RFC 2131 table 3), the lease and network options (RFC 2132), the NAK, the option 82 echo (RFC 3046),
/// where it goes (RFC 2131 section 4.1) and encoding within the client's size limit. Boot options come
/// from <see cref="DhcpBootOptionBuilder"/>. Holds no state besides its configuration.
/// </summary>
internal sealed class DhcpReplyBuilder(DhcpServerOptions options, ReservationBook reservations, DhcpBootOptionBuilder boot)
{
    private static readonly IPAddress LimitedBroadcast = IPAddress.Broadcast;

    /// <summary>
    /// An OFFER or ACK for <paramref name="address"/> on <paramref name="subnet"/>; an ACK to INFORM
    /// (<paramref name="inform"/>) carries no address and no lease time.
    /// </summary>
    public DhcpOutcome Lease(DhcpMessageType type, DhcpMessage request, DhcpReceiveContext context, DhcpSubnet subnet, Ipv4Address address, bool inform = false)
    {
        var reply = NewReply(request, type);
        reply.YourAddress = address;

        // RFC 2131 table 3: ciaddr is copied only into an ACK; an ACK to INFORM carries no lease time.
        if (type == DhcpMessageType.Ack)
        {
            reply.ClientAddress = request.ClientAddress;
        }

        if (!inform)
        {
            var seconds = (uint)Math.Min(uint.MaxValue - 1, subnet.LeaseTime.TotalSeconds);
            reply.Options.SetUInt32(DhcpOptionCode.IPAddressLeaseTime, seconds);
            reply.Options.SetUInt32(DhcpOptionCode.RenewalTime, seconds / 2);
            reply.Options.SetUInt32(DhcpOptionCode.RebindingTime, (uint)(seconds * 7UL / 8));
        }

        reply.Options.SetAddress(DhcpOptionCode.SubnetMask, subnet.Mask);
        if (subnet.Router is { } router)
        {
            reply.Options.SetAddresses(DhcpOptionCode.Router, [router]);
        }

        if (subnet.DnsServers.Count > 0)
        {
            reply.Options.SetAddresses(DhcpOptionCode.DomainNameServer, subnet.DnsServers);
        }

        if (subnet.DomainName is { Length: > 0 } domain)
        {
            reply.Options.SetString(DhcpOptionCode.DomainName, domain);
        }

        if (reservations.Find(request)?.HostName is { Length: > 0 } host)
        {
            reply.Options.SetString(DhcpOptionCode.HostName, host);
        }

        boot.AddFullMode(reply, request, BootClient.From(request));
        EchoRelayInformation(reply, request);
        return Encode(reply, request, Destination(request, context, type), context.LocalPort);
    }

    /// <summary>
    /// A ProxyDHCP OFFER or ACK (PXE 2.1 section 2.2.4): no address, only the boot answer. On the boot
    /// port (<paramref name="onBootPort"/>) it goes back to whoever asked, at the port it asked from
    /// (PXE 2.1 section 2.2.5).
    /// </summary>
    public DhcpOutcome Proxy(DhcpMessageType type, DhcpMessage request, DhcpReceiveContext context, BootClient client, BootAnswer answer, bool onBootPort)
    {
        var reply = NewReply(request, type);
        reply.ClientAddress = request.ClientAddress;
        boot.AddProxy(reply, request, client, answer);
        EchoRelayInformation(reply, request);

        var destination = onBootPort && !context.Source.Address.Equals(IPAddress.Any)
            ? context.Source
            : Destination(request, context, DhcpMessageType.Offer);
        return Encode(reply, request, destination, context.LocalPort);
    }

    /// <summary>A DHCPNAK with <paramref name="message"/> as option 56.</summary>
    public DhcpOutcome Nak(DhcpMessage request, DhcpReceiveContext context, string message)
    {
        var reply = NewReply(request, DhcpMessageType.Nak);
        reply.ServerAddress = Ipv4Address.Any;
        reply.Options.SetString(DhcpOptionCode.Message, message);
        if (!request.RelayAddress.IsAny)
        {
            // RFC 2131 section 4.3.2: a NAK through a relay is sent with the broadcast bit set.
            reply.IsBroadcast = true;
        }

        EchoRelayInformation(reply, request);
        return Encode(reply, request, Destination(request, context, DhcpMessageType.Nak), context.LocalPort);
    }

    /// <summary>
    /// RFC 2131 section 4.1: relayed → the relay's server port; NAK → broadcast; ciaddr set → unicast
    /// to it; otherwise broadcast. (Unicast to yiaddr without ARP needs a raw socket, so a client that
    /// asks for unicast gets a broadcast, which every client accepts.)
    /// </summary>
    public static IPEndPoint Destination(DhcpMessage request, DhcpReceiveContext context, DhcpMessageType type)
    {
        var clientPort = context.Source.Port is > 0 and not DhcpEngine.ServerPort ? context.Source.Port : DhcpEngine.ClientPort;
        if (!request.RelayAddress.IsAny)
        {
            return new IPEndPoint(request.RelayAddress.ToIPAddress(), context.Source.Port > 0 ? context.Source.Port : DhcpEngine.ServerPort);
        }

        if (type != DhcpMessageType.Nak && !request.ClientAddress.IsAny)
        {
            return new IPEndPoint(request.ClientAddress.ToIPAddress(), clientPort);
        }

        return new IPEndPoint(LimitedBroadcast, clientPort);
    }

    private DhcpMessage NewReply(DhcpMessage request, DhcpMessageType type)
    {
        var reply = new DhcpMessage
        {
            Op = BootOp.BootReply,
            HardwareType = request.HardwareType,
            HardwareLength = request.HardwareLength,
            TransactionId = request.TransactionId,
            Flags = request.Flags,
            RelayAddress = request.RelayAddress,
            ClientHardwareAddress = (byte[])request.ClientHardwareAddress.Clone(),
            ServerAddress = options.ServerAddress,
        };
        reply.Options.MessageType = type;
        reply.Options.SetAddress(DhcpOptionCode.ServerIdentifier, options.ServerAddress);
        return reply;
    }

    /// <summary>RFC 3046 section 2.2: option 82 is copied into every reply to a relayed request.</summary>
    private static void EchoRelayInformation(DhcpMessage reply, DhcpMessage request)
    {
        if (request.Options.Get(DhcpOptionCode.RelayAgentInformation) is { } info)
        {
            reply.Options.Remove(DhcpOptionCode.RelayAgentInformation);
            reply.Options.Set(DhcpOptionCode.RelayAgentInformation, info);
        }
    }

    private static DhcpOutcome Encode(DhcpMessage reply, DhcpMessage request, IPEndPoint destination, int localPort)
    {
        // RFC 2131 section 2: replies fit in 576 bytes unless the client allows more (option 57).
        var max = request.Options.GetUInt16(DhcpOptionCode.MaximumMessageSize) is { } m and >= DhcpMessage.MinimumMaxMessageSize
            ? Math.Min((int)m, 1472)
            : DhcpMessage.MinimumMaxMessageSize;
        Span<byte> buffer = stackalloc byte[1472];
        if (!reply.TryWrite(buffer[..max], out var written))
        {
            reply.Options.Remove(DhcpOptionCode.VendorSpecific);
            if (!reply.TryWrite(buffer[..max], out written))
            {
                return DhcpOutcome.Ignored(DhcpDropReason.Malformed, request);
            }
        }

        return new DhcpOutcome(new DhcpReply(buffer[..written].ToArray(), destination, localPort, reply.Options.MessageType!.Value, reply), null, DhcpReadError.None, request);
    }
}
