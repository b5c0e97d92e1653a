using System.Buffers.Binary;

namespace Kldload.Tftp.Protocol;

/// <summary>
/// An ERROR packet (RFC 1350 section 5; code 8 from RFC 2347). It ends the transfer and is never
/// acknowledged or retransmitted.
/// <code>
///  2 bytes     2 bytes      string    1 byte
/// +-----------+------------+----------+------+
/// |  05       |  ErrorCode |  ErrMsg  |   0  |
/// +-----------+------------+----------+------+
/// </code>
/// </summary>
public sealed record TftpError(TftpErrorCode Code, string Message)
{
    private const int OpcodeOffset = 0;
    private const int CodeOffset = 2;
    private const int MessageOffset = 4;

    public static bool TryRead(ReadOnlySpan<byte> packet, out TftpError tftpError, out string? error)
    {
        tftpError = null!;
        if (packet.Length < MessageOffset)
        {
            error = "shorter than an ERROR header";
            return false;
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(packet[OpcodeOffset..]) != (ushort)TftpOpcode.Error)
        {
            error = "opcode is not ERROR";
            return false;
        }

        if (!TftpStringField.TryRead(packet[MessageOffset..], out var message, out _))
        {
            error = "error message is not NUL-terminated";
            return false;
        }

        tftpError = new TftpError((TftpErrorCode)BinaryPrimitives.ReadUInt16BigEndian(packet[CodeOffset..]), message);
        error = null;
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < MessageOffset)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination[OpcodeOffset..], (ushort)TftpOpcode.Error);
        BinaryPrimitives.WriteUInt16BigEndian(destination[CodeOffset..], (ushort)Code);
        if (!TftpStringField.TryWrite(destination[MessageOffset..], Message, out var n))
        {
            return false;
        }

        written = MessageOffset + n;
        return true;
    }
}
