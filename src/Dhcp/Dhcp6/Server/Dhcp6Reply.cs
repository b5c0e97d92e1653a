using System.Net;
using Kldload.Dhcp.Dhcp6.Protocol;

namespace Kldload.Dhcp.Dhcp6.Server;

/// <summary>
/// A reply to send: the encoded datagram (wrapped in RELAY-REPL when the request was relayed), its
/// destination, and the client's message before wrapping. <see cref="NeedsDurableLease"/>: the reply
/// grants, extends or gives up a binding and may leave only after the lease store has flushed.
/// </summary>
public sealed record Dhcp6Reply(byte[] Payload, IPEndPoint Destination, Dhcp6Message Message)
{
    public bool NeedsDurableLease { get; init; }
}

/// <summary>What the engine did with one datagram: a reply, or nothing and why.</summary>
public readonly record struct Dhcp6Outcome(Dhcp6Reply? Reply, Dhcp6DropReason? Drop, Dhcp6ReadError ReadError, Dhcp6Envelope? Request)
{
    public static Dhcp6Outcome Ignored(Dhcp6DropReason reason, Dhcp6Envelope? request) => new(null, reason, Dhcp6ReadError.None, request);
}
