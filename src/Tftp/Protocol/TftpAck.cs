using System.Buffers.Binary;

namespace Kldload.Tftp.Protocol;

/// <summary>
/// An ACK packet (RFC 1350 section 5). Block 0 acknowledges an OACK (RFC 2347).
/// <code>
///  2 bytes     2 bytes
/// +---------+---------+
/// |  04     | Block # |
/// +---------+---------+
/// </code>
/// </summary>
public readonly record struct TftpAck(ushort Block)
{
    private const int OpcodeOffset = 0;
    private const int BlockOffset = 2;

    public const int Size = 4;

    /// <summary>Reads an ACK; bytes after the block number are ignored (padding some stacks add).</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out TftpAck ack, out string? error)
    {
        ack = default;
        if (packet.Length < Size)
        {
            error = "shorter than an ACK";
            return false;
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(packet[OpcodeOffset..]) != (ushort)TftpOpcode.Ack)
        {
            error = "opcode is not ACK";
            return false;
        }

        ack = new TftpAck(BinaryPrimitives.ReadUInt16BigEndian(packet[BlockOffset..]));
        error = null;
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination[OpcodeOffset..], (ushort)TftpOpcode.Ack);
        BinaryPrimitives.WriteUInt16BigEndian(destination[BlockOffset..], Block);
        written = Size;
        return true;
    }
}
