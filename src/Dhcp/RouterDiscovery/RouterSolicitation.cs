namespace Kldload.Dhcp.RouterDiscovery;

/// <summary>
/// A Router Solicitation (RFC 4861 section 4.1): a host asks routers to advertise now. The message is
/// the ICMPv6 payload of a raw socket (no IPv6 header). The checksum is left to the kernel: Linux
/// computes it on send and verifies it on receive for raw ICMPv6 sockets (RFC 3542 section 3.1).
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Type (133)   |   Code (0)    |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            Reserved                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options (Source Link-Layer Address) ...
/// +-+-+-+-+-+-+-+-+-+-+-+-
/// </code>
/// </summary>
public sealed class RouterSolicitation
{
    private const int TypeOffset = 0;
    private const int CodeOffset = 1;
    private const int ChecksumOffset = 2;
    private const int ReservedOffset = 4;
    private const int OptionsOffset = 8;

    /// <summary>The fixed part (RFC 4861 section 6.1.1: an RS is at least 8 bytes).</summary>
    public const int HeaderLength = OptionsOffset;

    public NdpOptions Options { get; private init; } = new();

    /// <summary>Parses and validates a solicitation (type, code 0, length, option lengths).</summary>
    public static bool TryRead(ReadOnlySpan<byte> message, out RouterSolicitation solicitation, out NdpReadError error)
    {
        solicitation = new RouterSolicitation();
        if (message.Length < HeaderLength)
        {
            error = NdpReadError.TooShort;
            return false;
        }

        if (message[TypeOffset] != (byte)NdpMessageType.RouterSolicitation)
        {
            error = NdpReadError.WrongType;
            return false;
        }

        if (message[CodeOffset] != 0)
        {
            error = NdpReadError.BadCode;
            return false;
        }

        if (!NdpOptions.TryRead(message[OptionsOffset..], out var options, out error))
        {
            return false;
        }

        solicitation = new RouterSolicitation { Options = options };
        return true;
    }

    /// <summary>Bytes this message takes on the wire.</summary>
    public int Length => HeaderLength + Options.Length;

    /// <summary>Writes the message with a zero checksum (the kernel fills it in).</summary>
    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Length)
        {
            return false;
        }

        destination[TypeOffset] = (byte)NdpMessageType.RouterSolicitation;
        destination[CodeOffset] = 0;
        destination[ChecksumOffset..ReservedOffset].Clear();
        destination[ReservedOffset..OptionsOffset].Clear();
        Options.TryWrite(destination[OptionsOffset..], out var optionBytes);
        written = OptionsOffset + optionBytes;
        return true;
    }

    /// <summary>The message as a new array.</summary>
    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        TryWrite(bytes, out _);
        return bytes;
    }
}
