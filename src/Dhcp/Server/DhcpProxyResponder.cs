using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>
/// Proxy mode (PXE 2.1 section 2.2.4): another server leases the addresses, this one answers boot
/// clients with the boot answer only. On the DHCP port it answers a DISCOVER, and a REQUEST that names
/// this server; on the proxy port (4011) a REQUEST or INFORM. The answer is
/// <see cref="DhcpBootOptionBuilder"/>'s, the reply <see cref="DhcpReplyBuilder"/>'s.
/// </summary>
internal sealed class DhcpProxyResponder(DhcpServerOptions options, DhcpBootOptionBuilder boot, DhcpReplyBuilder replies)
{
    /// <summary>The proxy OFFER or ACK to <paramref name="request"/>, or why there is none.</summary>
    public DhcpOutcome Answer(DhcpMessage request, DhcpMessageType type, DhcpReceiveContext context)
    {
        var client = BootClient.From(request);
        if (!client.IsBootClient)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NotBootClient, request);
        }

        var onBootPort = context.LocalPort == options.ProxyPort;
        var answers = onBootPort
            ? type is DhcpMessageType.Request or DhcpMessageType.Inform
            : type == DhcpMessageType.Discover
                || (type == DhcpMessageType.Request && request.Options.GetAddress(DhcpOptionCode.ServerIdentifier) == options.ServerAddress);
        if (!answers)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NotForUs, request);
        }

        if (boot.Decide(client) is not { } answer)
        {
            return DhcpOutcome.Ignored(DhcpDropReason.NotBootClient, request);
        }

        var replyType = type == DhcpMessageType.Discover ? DhcpMessageType.Offer : DhcpMessageType.Ack;
        return replies.Proxy(replyType, request, context, client, answer, onBootPort);
    }
}
