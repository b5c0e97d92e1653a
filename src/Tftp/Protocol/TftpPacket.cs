using System.Buffers.Binary;

namespace Kldload.Tftp.Protocol;

/// <summary>Reads the opcode every TFTP packet starts with (RFC 1350 section 5).</summary>
public static class TftpPacket
{
    /// <summary>The opcode of <paramref name="packet"/>, or false when it is shorter than two bytes or unknown.</summary>
    public static bool TryReadOpcode(ReadOnlySpan<byte> packet, out TftpOpcode opcode)
    {
        opcode = default;
        if (packet.Length < 2)
        {
            return false;
        }

        opcode = (TftpOpcode)BinaryPrimitives.ReadUInt16BigEndian(packet);
        return opcode is >= TftpOpcode.ReadRequest and <= TftpOpcode.OptionAck;
    }
}
