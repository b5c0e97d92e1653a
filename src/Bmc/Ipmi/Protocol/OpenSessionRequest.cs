namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// RMCP+ Open Session Request (IPMI 2.0 section 13.17, table 13-9), payload type 0x10.
/// <code>
///  0     1          2..3  4..7              8..15          16..23          24..31
/// +-----+----------+-----+-----------------+--------------+---------------+-----------------+
/// | tag | max priv | 00  | console SID(LE) | auth payload | integrity pl. | confidentiality |
/// +-----+----------+-----+-----------------+--------------+---------------+-----------------+
/// each algorithm payload: type (0/1/2), 00 00, length 08, algorithm, 00 00 00
/// </code>
/// </summary>
public readonly record struct OpenSessionRequest(byte Tag, IpmiPrivilege MaximumPrivilege, uint ConsoleSessionId, CipherSuite Suite)
{
    public const int Size = 32;

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }

        var w = new SpanWriter(destination);
        w.Byte(Tag);
        w.Byte((byte)MaximumPrivilege);
        w.Zeros(2);
        w.UInt32LittleEndian(ConsoleSessionId);
        WriteAlgorithm(ref w, 0x00, (byte)Suite.Authentication);
        WriteAlgorithm(ref w, 0x01, (byte)Suite.Integrity);
        WriteAlgorithm(ref w, 0x02, (byte)Suite.Confidentiality);
        written = Size;
        return true;
    }

    private static void WriteAlgorithm(ref SpanWriter w, byte payloadType, byte algorithm)
    {
        w.Byte(payloadType);
        w.Zeros(2);
        w.Byte(0x08);
        w.Byte(algorithm);
        w.Zeros(3);
    }
}
