namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// RAKP Message 3 (IPMI 2.0 section 13.22, table 13-13), payload type 0x14.
/// <code>
///  0     1       2..3  4..7          8..
/// +-----+-------+-----+-------------+-----------------------+
/// | tag | status| 00  | BMC SID(LE) | key exchange auth code|
/// +-----+-------+-----+-------------+-----------------------+
/// </code>
/// </summary>
public readonly record struct Rakp3(byte Tag, RmcpPlusStatus Status, uint BmcSessionId, ReadOnlyMemory<byte> AuthCode)
{
    public const int HeaderSize = 8;

    public int Size => HeaderSize + AuthCode.Length;

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }

        var w = new SpanWriter(destination);
        w.Byte(Tag);
        w.Byte((byte)Status);
        w.Zeros(2);
        w.UInt32LittleEndian(BmcSessionId);
        w.Bytes(AuthCode.Span);
        written = Size;
        return true;
    }
}
