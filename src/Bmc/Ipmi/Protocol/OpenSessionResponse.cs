using System.Buffers.Binary;

namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// RMCP+ Open Session Response (IPMI 2.0 section 13.18, table 13-10), payload type 0x11.
/// <code>
///  0     1       2         3    4..7              8..11         12..19  20..27     28..35
/// +-----+-------+---------+----+-----------------+-------------+-------+----------+---------+
/// | tag | status| max priv| 00 | console SID(LE) | BMC SID(LE) | auth  | integrity| confid. |
/// +-----+-------+---------+----+-----------------+-------------+-------+----------+---------+
/// </code>
/// A response with an error status may stop after byte 1 (ipmi_sim sends only the tag and the status).
/// </summary>
public readonly record struct OpenSessionResponse(
    byte Tag,
    RmcpPlusStatus Status,
    uint ConsoleSessionId,
    uint BmcSessionId,
    IpmiAuthenticationAlgorithm Authentication,
    IpmiIntegrityAlgorithm Integrity,
    IpmiConfidentialityAlgorithm Confidentiality)
{
    public const int ErrorSize = 2;
    public const int Size = 36;
    private const int AuthenticationOffset = 12 + 4;
    private const int IntegrityOffset = 20 + 4;
    private const int ConfidentialityOffset = 28 + 4;

    public static bool TryRead(ReadOnlySpan<byte> payload, out OpenSessionResponse response, out string? error)
    {
        response = default;
        if (payload.Length < ErrorSize)
        {
            error = "shorter than an Open Session Response";
            return false;
        }

        var status = (RmcpPlusStatus)payload[1];
        var consoleSid = payload.Length >= 8 ? BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]) : 0;
        if (status != RmcpPlusStatus.NoErrors)
        {
            response = new OpenSessionResponse(payload[0], status, consoleSid, 0, 0, 0, 0);
            error = null;
            return true;
        }

        if (payload.Length < Size)
        {
            error = "Open Session Response without its algorithm payloads";
            return false;
        }

        response = new OpenSessionResponse(
            payload[0],
            status,
            consoleSid,
            BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]),
            (IpmiAuthenticationAlgorithm)(payload[AuthenticationOffset] & 0x3F),
            (IpmiIntegrityAlgorithm)(payload[IntegrityOffset] & 0x3F),
            (IpmiConfidentialityAlgorithm)(payload[ConfidentialityOffset] & 0x3F));
        error = null;
        return true;
    }
}
