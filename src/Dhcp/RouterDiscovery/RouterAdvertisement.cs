using System.Buffers.Binary;

namespace Kldload.Dhcp.RouterDiscovery;

/// <summary>
/// A Router Advertisement (RFC 4861 section 4.2), the ICMPv6 payload of a raw socket (no IPv6 header).
/// Router Lifetime 0 says "not a default router" (section 6.3.4); M and O ask hosts to run DHCPv6
/// (RFC 4861 section 4.2, RFC 8415). The checksum is left to the kernel: Linux computes it on send
/// and verifies it on receive for raw ICMPv6 sockets (RFC 3542 section 3.1), so it is written as 0
/// and not checked here.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Type (134)   |   Code (0)    |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Cur Hop Limit |M|O|  Reserved |       Router Lifetime         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Reachable Time                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                          Retrans Timer                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options ...
/// +-+-+-+-+-+-+-+-+-+-+-+-
/// </code>
/// </summary>
public sealed class RouterAdvertisement
{
    private const int TypeOffset = 0;
    private const int CodeOffset = 1;
    private const int ChecksumOffset = 2;
    private const int CurHopLimitOffset = 4;
    private const int FlagsOffset = 5;
    private const int RouterLifetimeOffset = 6;
    private const int ReachableTimeOffset = 8;
    private const int RetransTimerOffset = 12;
    private const int OptionsOffset = 16;

    /// <summary>The fixed part (RFC 4861 section 6.1.2: an RA is at least 16 bytes).</summary>
    public const int HeaderLength = OptionsOffset;

    /// <summary>Bit of the flags byte: Managed address configuration (M).</summary>
    public const byte ManagedFlag = 0x80;

    /// <summary>Bit of the flags byte: Other configuration (O).</summary>
    public const byte OtherConfigFlag = 0x40;

    /// <summary>Hop limit hosts should use; 0 = unspecified (leave theirs alone).</summary>
    public byte CurHopLimit { get; init; }

    /// <summary>The whole flags byte (M, O and the bits after them, kept for a round trip).</summary>
    public byte Flags { get; init; }

    public bool Managed => (Flags & ManagedFlag) != 0;

    public bool OtherConfig => (Flags & OtherConfigFlag) != 0;

    /// <summary>Seconds this router may be a default router; 0 = it is not one.</summary>
    public ushort RouterLifetime { get; init; }

    /// <summary>Milliseconds; 0 = unspecified.</summary>
    public uint ReachableTime { get; init; }

    /// <summary>Milliseconds; 0 = unspecified.</summary>
    public uint RetransTimer { get; init; }

    public NdpOptions Options { get; init; } = new();

    /// <summary>
    /// True when hosts would take anything from this advertisement: a default route (lifetime &gt; 0),
    /// DHCPv6 (M or O), or any option beyond the source link-layer address and the MTU (prefixes,
    /// routes, DNS servers, ...). An advertisement that configures nothing carries no information a
    /// host could miss by hearing another one first.
    /// </summary>
    public bool ConfiguresHosts =>
        RouterLifetime > 0 || Managed || OtherConfig
        || Options.Items.Any(o => o.Type is not (NdpOptionType.SourceLinkLayerAddress or NdpOptionType.Mtu));

    /// <summary>Parses and validates an advertisement (type, code 0, length, option lengths).</summary>
    public static bool TryRead(ReadOnlySpan<byte> message, out RouterAdvertisement advertisement, out NdpReadError error)
    {
        advertisement = new RouterAdvertisement();
        if (message.Length < HeaderLength)
        {
            error = NdpReadError.TooShort;
            return false;
        }

        if (message[TypeOffset] != (byte)NdpMessageType.RouterAdvertisement)
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

        advertisement = new RouterAdvertisement
        {
            CurHopLimit = message[CurHopLimitOffset],
            Flags = message[FlagsOffset],
            RouterLifetime = BinaryPrimitives.ReadUInt16BigEndian(message[RouterLifetimeOffset..]),
            ReachableTime = BinaryPrimitives.ReadUInt32BigEndian(message[ReachableTimeOffset..]),
            RetransTimer = BinaryPrimitives.ReadUInt32BigEndian(message[RetransTimerOffset..]),
            Options = options,
        };
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

        destination[TypeOffset] = (byte)NdpMessageType.RouterAdvertisement;
        destination[CodeOffset] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[ChecksumOffset..], 0);
        destination[CurHopLimitOffset] = CurHopLimit;
        destination[FlagsOffset] = Flags;
        BinaryPrimitives.WriteUInt16BigEndian(destination[RouterLifetimeOffset..], RouterLifetime);
        BinaryPrimitives.WriteUInt32BigEndian(destination[ReachableTimeOffset..], ReachableTime);
        BinaryPrimitives.WriteUInt32BigEndian(destination[RetransTimerOffset..], RetransTimer);
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
