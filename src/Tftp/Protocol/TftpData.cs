using System.Buffers.Binary;

namespace Kldload.Tftp.Protocol;

/// <summary>
/// A DATA packet (RFC 1350 section 5): a view over the received bytes, never a copy.
/// <code>
///  2 bytes     2 bytes      n bytes (0..blksize)
/// +----------+------------+-------------+
/// |  03      |   Block #  |    Data     |
/// +----------+------------+-------------+
/// </code>
/// A payload shorter than the negotiated block size ends the transfer.
/// </summary>
public readonly ref struct TftpData
{
    private const int OpcodeOffset = 0;
    private const int BlockOffset = 2;

    /// <summary>Bytes before the payload.</summary>
    public const int HeaderSize = 4;

    /// <summary>RFC 2348: the largest block size.</summary>
    public const int MaxPayload = 65464;

    public TftpData(ushort block, ReadOnlySpan<byte> payload)
    {
        Block = block;
        Payload = payload;
    }

    public ushort Block { get; }

    public ReadOnlySpan<byte> Payload { get; }

    public static bool TryRead(ReadOnlySpan<byte> packet, out TftpData data, out string? error)
    {
        data = default;
        if (packet.Length < HeaderSize)
        {
            error = "shorter than a DATA header";
            return false;
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(packet[OpcodeOffset..]) != (ushort)TftpOpcode.Data)
        {
            error = "opcode is not DATA";
            return false;
        }

        if (packet.Length - HeaderSize > MaxPayload)
        {
            error = "payload larger than 65464 octets";
            return false;
        }

        data = new TftpData(BinaryPrimitives.ReadUInt16BigEndian(packet[BlockOffset..]), packet[HeaderSize..]);
        error = null;
        return true;
    }

    /// <summary>Writes the 4-byte header in front of a payload already placed at <c>destination[4..]</c>.</summary>
    public static void WriteHeader(Span<byte> destination, ushort block)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination[OpcodeOffset..], (ushort)TftpOpcode.Data);
        BinaryPrimitives.WriteUInt16BigEndian(destination[BlockOffset..], block);
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < HeaderSize + Payload.Length || Payload.Length > MaxPayload)
        {
            return false;
        }

        WriteHeader(destination, Block);
        Payload.CopyTo(destination[HeaderSize..]);
        written = HeaderSize + Payload.Length;
        return true;
    }
}
