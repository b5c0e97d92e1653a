using System.Net;

namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>
/// A RELAY-FORW or RELAY-REPL message (RFC 8415 section 9): the relay's hop count, the link it heard
/// the client on, the address it heard it from, and options, one of which (OPTION_RELAY_MSG) holds
/// the client's message or another relay's.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------+---------------+-------------------------------+
/// |    msg-type   |   hop-count   |                               |  0
/// +---------------+---------------+                               |
/// |                         link-address (16)                     |  2
/// |                               +-------------------------------+
/// |                               |                               |
/// +-------------------------------+                               |
/// |                         peer-address (16)                     | 18
/// |                               +-------------------------------+
/// |                               |                               |
/// +-------------------------------+                               |
/// |                            options                            | 34
/// +---------------------------------------------------------------+
/// </code>
/// </summary>
public sealed class Dhcp6RelayMessage
{
    public const int MessageTypeOffset = 0;
    public const int HopCountOffset = 1;
    public const int LinkAddressOffset = 2;
    public const int PeerAddressOffset = 18;
    public const int OptionsOffset = 34;

    /// <summary>HOP_COUNT_LIMIT (RFC 8415 section 7.6): the most relays a message may pass.</summary>
    public const int MaxHopCount = 8;

    public Dhcp6MessageType MessageType { get; set; } = Dhcp6MessageType.RelayForward;

    public byte HopCount { get; set; }

    /// <summary>An address on the client's link (unspecified when the relay has none there, RFC 8415 section 19.1.1).</summary>
    public IPAddress LinkAddress { get; set; } = IPAddress.IPv6Any;

    /// <summary>The address the relay received the message from (the client's or the next relay's).</summary>
    public IPAddress PeerAddress { get; set; } = IPAddress.IPv6Any;

    public Dhcp6Options Options { get; private set; } = new();

    /// <summary>OPTION_RELAY_MSG: the encapsulated message's bytes, or null.</summary>
    public byte[]? RelayedMessage => Options.Get(Dhcp6OptionCode.RelayMessage);

    /// <summary>OPTION_INTERFACE_ID (RFC 8415 section 21.18), or null; a server copies it into its RELAY-REPL.</summary>
    public byte[]? InterfaceId => Options.Get(Dhcp6OptionCode.InterfaceId);

    /// <summary>OPTION_REMOTE_ID (RFC 4649 section 3): enterprise number and the relay's identifier for the client's port, or null.</summary>
    public (uint EnterpriseNumber, byte[] RemoteId)? RemoteId =>
        Options.Get(Dhcp6OptionCode.RemoteId) is { Length: > 4 } d ? (System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(d), d[4..]) : null;

    /// <summary>Parses one relay message (its own header and options; the relayed message stays bytes). Never throws.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out Dhcp6RelayMessage message, out Dhcp6ReadError error)
    {
        message = new Dhcp6RelayMessage();
        if (source.Length < OptionsOffset)
        {
            error = source.Length >= 1 && !Dhcp6Message.IsRelayType((Dhcp6MessageType)source[0]) ? Dhcp6ReadError.UnknownMessageType : Dhcp6ReadError.TooShort;
            return false;
        }

        var type = (Dhcp6MessageType)source[MessageTypeOffset];
        if (!Dhcp6Message.IsRelayType(type))
        {
            error = Dhcp6ReadError.UnknownMessageType;
            return false;
        }

        message.MessageType = type;
        message.HopCount = source[HopCountOffset];
        message.LinkAddress = new IPAddress(source.Slice(LinkAddressOffset, 16));
        message.PeerAddress = new IPAddress(source.Slice(PeerAddressOffset, 16));
        if (!Dhcp6Options.TryRead(source[OptionsOffset..], out var options, out error))
        {
            return false;
        }

        message.Options = options;
        if (!options.Contains(Dhcp6OptionCode.RelayMessage))
        {
            error = Dhcp6ReadError.MissingRelayMessage;
            return false;
        }

        return true;
    }

    public int EncodedLength => OptionsOffset + Options.EncodedLength;

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < EncodedLength)
        {
            return false;
        }

        destination[MessageTypeOffset] = (byte)MessageType;
        destination[HopCountOffset] = HopCount;
        LinkAddress.TryWriteBytes(destination.Slice(LinkAddressOffset, 16), out _);
        PeerAddress.TryWriteBytes(destination.Slice(PeerAddressOffset, 16), out _);
        written = OptionsOffset + Options.Write(destination[OptionsOffset..]);
        return true;
    }

    public byte[] ToArray()
    {
        var bytes = new byte[EncodedLength];
        TryWrite(bytes, out _);
        return bytes;
    }
}
