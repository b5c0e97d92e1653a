namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// The RMCP header (IPMI 2.0 section 13.1.3, DMTF ASF 2.0 section 3.2.2.1) in front of every IPMI LAN datagram.
/// <code>
///  byte 0    byte 1     byte 2      byte 3
/// +--------+----------+-----------+----------------+
/// | 06     | 00       | seq (FF)  | class 07: IPMI |
/// +--------+----------+-----------+----------------+
/// </code>
/// Sequence FF means "no RMCP ACK wanted", which is what IPMI over LAN always uses.
/// </summary>
public static class RmcpHeader
{
    public const int Size = 4;
    public const byte Version = 0x06;
    public const byte NoAckSequence = 0xFF;
    public const byte IpmiClass = 0x07;

    public static void Write(Span<byte> destination)
    {
        destination[0] = Version;
        destination[1] = 0x00;
        destination[2] = NoAckSequence;
        destination[3] = IpmiClass;
    }

    /// <summary>True when the datagram starts with an RMCP header for the IPMI class.</summary>
    public static bool TryRead(ReadOnlySpan<byte> datagram, out string? error)
    {
        if (datagram.Length < Size)
        {
            error = "shorter than an RMCP header";
            return false;
        }

        if (datagram[0] != Version)
        {
            error = $"RMCP version {datagram[0]:X2}, expected 06";
            return false;
        }

        // Bit 7 of the class byte marks an RMCP ACK; the low bits are the class.
        if ((datagram[3] & 0x1F) != IpmiClass || (datagram[3] & 0x80) != 0)
        {
            error = $"RMCP class {datagram[3]:X2} is not an IPMI message";
            return false;
        }

        error = null;
        return true;
    }
}
