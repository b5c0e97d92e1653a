namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>
/// A DHCPv6 client/server message (RFC 8415 section 8): every type except RELAY-FORW and RELAY-REPL.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------+-----------------------------------------------+
/// |    msg-type   |               transaction-id                  |  0
/// +---------------+-----------------------------------------------+
/// |                            options                            |  4
/// |                           (variable)                          |
/// +---------------------------------------------------------------+
/// </code>
/// </summary>
public sealed class Dhcp6Message
{
    public const int MessageTypeOffset = 0;
    public const int TransactionIdOffset = 1;
    public const int OptionsOffset = 4;

    /// <summary>The largest transaction id (24 bits).</summary>
    public const uint MaxTransactionId = 0xFFFFFF;

    public Dhcp6MessageType MessageType { get; set; }

    /// <summary>The 24-bit transaction id.</summary>
    public uint TransactionId { get; set; }

    public Dhcp6Options Options { get; private set; } = new();

    /// <summary>True for the two relay types, which have the relay layout (<see cref="Dhcp6RelayMessage"/>).</summary>
    public static bool IsRelayType(Dhcp6MessageType type) => type is Dhcp6MessageType.RelayForward or Dhcp6MessageType.RelayReply;

    /// <summary>Parses one client/server message. Never throws: malformed input returns false with the reason.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out Dhcp6Message message, out Dhcp6ReadError error)
    {
        message = new Dhcp6Message();
        if (source.Length < OptionsOffset)
        {
            error = Dhcp6ReadError.TooShort;
            return false;
        }

        var type = (Dhcp6MessageType)source[MessageTypeOffset];
        if (type is < Dhcp6MessageType.Solicit or > Dhcp6MessageType.RelayReply || IsRelayType(type))
        {
            error = Dhcp6ReadError.UnknownMessageType;
            return false;
        }

        message.MessageType = type;
        message.TransactionId = (uint)(source[1] << 16 | source[2] << 8 | source[3]);
        if (!Dhcp6Options.TryRead(source[OptionsOffset..], out var options, out error))
        {
            return false;
        }

        message.Options = options;
        return true;
    }

    /// <summary>Bytes <see cref="TryWrite"/> produces.</summary>
    public int EncodedLength => OptionsOffset + Options.EncodedLength;

    /// <summary>Writes the message; false when <paramref name="destination"/> is too small.</summary>
    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        var length = EncodedLength;
        if (destination.Length < length)
        {
            return false;
        }

        destination[MessageTypeOffset] = (byte)MessageType;
        destination[1] = (byte)(TransactionId >> 16);
        destination[2] = (byte)(TransactionId >> 8);
        destination[3] = (byte)TransactionId;
        written = OptionsOffset + Options.Write(destination[OptionsOffset..]);
        return true;
    }

    public byte[] ToArray()
    {
        var bytes = new byte[EncodedLength];
        TryWrite(bytes, out _);
        return bytes;
    }

    /// <summary>A reply of <paramref name="type"/> with this message's transaction id.</summary>
    public Dhcp6Message CreateReply(Dhcp6MessageType type) => new() { MessageType = type, TransactionId = TransactionId };
}
