namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// RAKP Message 1 (IPMI 2.0 section 13.20, table 13-11), payload type 0x12.
/// <code>
///  0     1..3  4..7         8..23              24     25..26  27        28..
/// +-----+-----+------------+------------------+------+-------+---------+----------+
/// | tag | 00  | BMC SID(LE)| console random Rm| role | 00 00 | name len| user name|
/// +-----+-----+------------+------------------+------+-------+---------+----------+
/// </code>
/// </summary>
public readonly record struct Rakp1(byte Tag, uint BmcSessionId, ReadOnlyMemory<byte> ConsoleRandom, byte Role, ReadOnlyMemory<byte> UserName)
{
    public const int HeaderSize = 28;
    public const int MaximumUserNameLength = 16;

    public int Size => HeaderSize + UserName.Length;

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size || ConsoleRandom.Length != 16 || UserName.Length > MaximumUserNameLength)
        {
            return false;
        }

        var w = new SpanWriter(destination);
        w.Byte(Tag);
        w.Zeros(3);
        w.UInt32LittleEndian(BmcSessionId);
        w.Bytes(ConsoleRandom.Span);
        w.Byte(Role);
        w.Zeros(2);
        w.Byte((byte)UserName.Length);
        w.Bytes(UserName.Span);
        written = Size;
        return true;
    }
}
