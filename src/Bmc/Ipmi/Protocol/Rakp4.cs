using System.Buffers.Binary;

namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// RAKP Message 4 (IPMI 2.0 section 13.23, table 13-14), payload type 0x15.
/// <code>
///  0     1       2..3  4..7              8..
/// +-----+-------+-----+-----------------+--------------------------+
/// | tag | status| 00  | console SID(LE) | integrity check value    |
/// +-----+-------+-----+-----------------+--------------------------+
/// </code>
/// </summary>
public readonly record struct Rakp4(byte Tag, RmcpPlusStatus Status, uint ConsoleSessionId, ReadOnlyMemory<byte> IntegrityCheckValue)
{
    public const int HeaderSize = 8;

    public static bool TryRead(ReadOnlySpan<byte> payload, out Rakp4 message, out string? error)
    {
        message = default;
        if (payload.Length < 2 || (payload[1] == 0 && payload.Length < HeaderSize))
        {
            error = "shorter than a RAKP 4 message";
            return false;
        }

        message = payload.Length < HeaderSize
            ? new Rakp4(payload[0], (RmcpPlusStatus)payload[1], 0, default)
            : new Rakp4(payload[0], (RmcpPlusStatus)payload[1], BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]), payload[8..].ToArray());
        error = null;
        return true;
    }
}
