using System.Buffers.Binary;

namespace Kldload.Tftp.Protocol;

/// <summary>
/// An OACK packet (RFC 2347 section 2): the options the server accepted, with the values it chose.
/// The client answers with ACK 0 (read) before the first DATA.
/// <code>
///  2 bytes   string  1 byte  string  1 byte  string  1 byte  string  1 byte
/// +-------+--------+------+--------+------+--------+------+--------+------+--
/// |  06   |  opt1  |  0   | value1 |  0   |  optN  |  0   | valueN |  0   | ...
/// +-------+--------+------+--------+------+--------+------+--------+------+--
/// </code>
/// </summary>
public sealed record TftpOptionAck(IReadOnlyList<TftpOption> Options)
{
    private const int OpcodeOffset = 0;
    private const int OptionsOffset = 2;

    public static bool TryRead(ReadOnlySpan<byte> packet, out TftpOptionAck optionAck, out string? error)
    {
        optionAck = null!;
        if (packet.Length < OptionsOffset)
        {
            error = "shorter than an opcode";
            return false;
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(packet[OpcodeOffset..]) != (ushort)TftpOpcode.OptionAck)
        {
            error = "opcode is not OACK";
            return false;
        }

        if (!TftpStringField.TryReadOptions(packet[OptionsOffset..], out var options, out error))
        {
            return false;
        }

        // A server sends OACK only for options it accepted; an empty one is malformed.
        if (options.Count == 0)
        {
            error = "OACK without options";
            return false;
        }

        optionAck = new TftpOptionAck(options);
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < OptionsOffset)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination[OpcodeOffset..], (ushort)TftpOpcode.OptionAck);
        if (!TftpStringField.TryWriteOptions(destination[OptionsOffset..], Options, out var n))
        {
            return false;
        }

        written = OptionsOffset + n;
        return true;
    }
}
