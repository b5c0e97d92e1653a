using System.Buffers.Binary;

namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// RAKP Message 2 (IPMI 2.0 section 13.21, table 13-12), payload type 0x13.
/// <code>
///  0     1       2..3  4..7              8..23           24..39      40..
/// +-----+-------+-----+-----------------+---------------+-----------+-----------------------+
/// | tag | status| 00  | console SID(LE) | BMC random Rc | BMC GUID  | key exchange auth code|
/// +-----+-------+-----+-----------------+---------------+-----------+-----------------------+
/// </code>
/// A response with an error status may stop after byte 1.
/// </summary>
public readonly record struct Rakp2(byte Tag, RmcpPlusStatus Status, uint ConsoleSessionId, ReadOnlyMemory<byte> BmcRandom, ReadOnlyMemory<byte> BmcGuid, ReadOnlyMemory<byte> AuthCode)
{
    public const int ErrorSize = 2;
    public const int HeaderSize = 40;

    public static bool TryRead(ReadOnlySpan<byte> payload, out Rakp2 message, out string? error)
    {
        message = default;
        if (payload.Length < ErrorSize)
        {
            error = "shorter than a RAKP 2 message";
            return false;
        }

        var status = (RmcpPlusStatus)payload[1];
        var consoleSid = payload.Length >= 8 ? BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]) : 0;
        if (status != RmcpPlusStatus.NoErrors)
        {
            message = new Rakp2(payload[0], status, consoleSid, default, default, default);
            error = null;
            return true;
        }

        if (payload.Length < HeaderSize)
        {
            error = "RAKP 2 message without its random number and GUID";
            return false;
        }

        message = new Rakp2(payload[0], status, consoleSid, payload[8..24].ToArray(), payload[24..40].ToArray(), payload[40..].ToArray());
        error = null;
        return true;
    }
}
