using System.Net;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>Where a datagram came from and which of our ports it reached.</summary>
public readonly record struct DhcpReceiveContext(IPEndPoint Source, int LocalPort);

/// <summary>
/// A reply to send: the encoded message, its destination and the local port to send from.
/// <see cref="NeedsDurableLease"/> is true when the reply grants or extends a lease (an ACK that bound an
/// address): it may leave only after the lease store has flushed. OFFERs, NAKs and INFORM answers promise
/// nothing that must survive a crash and go out at once.
/// </summary>
public sealed record DhcpReply(byte[] Payload, IPEndPoint Destination, int LocalPort, DhcpMessageType Type, DhcpMessage Message)
{
    public bool NeedsDurableLease { get; init; }
}

/// <summary>What the engine did with one datagram: a reply, or nothing and why.</summary>
public readonly record struct DhcpOutcome(DhcpReply? Reply, DhcpDropReason? Drop, DhcpReadError ReadError, DhcpMessage? Request)
{
    public static DhcpOutcome Ignored(DhcpDropReason reason, DhcpMessage? request) => new(null, reason, DhcpReadError.None, request);

    public static DhcpOutcome Silent(DhcpMessage request) => new(null, null, DhcpReadError.None, request);
}
