namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>
/// A received datagram taken apart: the relay messages around the client's message, outermost first
/// (empty when the client sent it straight to us), and the client's message.
/// </summary>
public sealed record Dhcp6Envelope(IReadOnlyList<Dhcp6RelayMessage> Relays, Dhcp6Message Message)
{
    /// <summary>The relay nearest the client (its link-address names the client's link), or null.</summary>
    public Dhcp6RelayMessage? FirstHopRelay => Relays.Count > 0 ? Relays[^1] : null;

    /// <summary>
    /// Parses a datagram: relay messages are opened until a client/server message is found, at most
    /// <see cref="Dhcp6RelayMessage.MaxHopCount"/> + 1 deep. Never throws.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out Dhcp6Envelope? envelope, out Dhcp6ReadError error)
    {
        envelope = null;
        var relays = new List<Dhcp6RelayMessage>();
        var current = source;
        while (current.Length > 0 && Dhcp6Message.IsRelayType((Dhcp6MessageType)current[0]))
        {
            if (relays.Count > Dhcp6RelayMessage.MaxHopCount)
            {
                error = Dhcp6ReadError.TooManyRelays;
                return false;
            }

            if (!Dhcp6RelayMessage.TryRead(current, out var relay, out error))
            {
                return false;
            }

            relays.Add(relay);
            current = relay.RelayedMessage;
        }

        if (!Dhcp6Message.TryRead(current, out var message, out error))
        {
            return false;
        }

        envelope = new Dhcp6Envelope(relays, message);
        return true;
    }

    /// <summary>
    /// Wraps <paramref name="reply"/> in RELAY-REPL messages mirroring <see cref="Relays"/> (RFC 8415
    /// section 19.3: same hop count, link and peer addresses, Interface-Id copied), or returns it bare.
    /// </summary>
    public byte[] Encapsulate(Dhcp6Message reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        var bytes = reply.ToArray();
        for (var i = Relays.Count - 1; i >= 0; i--)
        {
            var forward = Relays[i];
            var back = new Dhcp6RelayMessage
            {
                MessageType = Dhcp6MessageType.RelayReply,
                HopCount = forward.HopCount,
                LinkAddress = forward.LinkAddress,
                PeerAddress = forward.PeerAddress,
            };
            if (forward.InterfaceId is { } interfaceId)
            {
                back.Options.Add(Dhcp6OptionCode.InterfaceId, interfaceId);
            }

            back.Options.Add(Dhcp6OptionCode.RelayMessage, bytes);
            bytes = back.ToArray();
        }

        return bytes;
    }
}
