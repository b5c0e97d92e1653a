namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// An IPMI request as carried over LAN (IPMI 2.0 section 13.8, table 13-4), from the remote console
/// (software ID 0x81) to the BMC (slave address 0x20).
/// <code>
///  0       1             2      3       4             5     6..n-1  n
/// +-------+-------------+------+-------+-------------+-----+-------+------+
/// | rsSA  | netFn|rsLUN | chk1 | rqSA  | rqSeq|rqLUN | cmd | data  | chk2 |
/// +-------+-------------+------+-------+-------------+-----+-------+------+
/// </code>
/// chk1 covers bytes 0-1, chk2 covers bytes 3 to n-1; each is the two's complement of the byte sum.
/// </summary>
public readonly record struct IpmiRequest(IpmiNetFn NetFn, byte Command, byte Sequence, ReadOnlyMemory<byte> Data)
{
    public const byte BmcAddress = 0x20;
    public const byte ConsoleAddress = 0x81;
    public const int Overhead = 7;

    public int Size => Overhead + Data.Length;

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size)
        {
            return false;
        }

        destination[0] = BmcAddress;
        destination[1] = (byte)((byte)NetFn << 2);
        destination[2] = IpmiChecksum.Compute(destination[..2]);
        destination[3] = ConsoleAddress;
        destination[4] = (byte)((Sequence & 0x3F) << 2);
        destination[5] = Command;
        Data.Span.CopyTo(destination[6..]);
        destination[6 + Data.Length] = IpmiChecksum.Compute(destination[3..(6 + Data.Length)]);
        written = Size;
        return true;
    }
}

/// <summary>
/// An IPMI response as carried over LAN (IPMI 2.0 table 13-4): the request's layout with the addresses
/// swapped, the network function plus one, and a completion code before the data.
/// <code>
///  0       1             2      3       4             5     6    7..n-1  n
/// +-------+-------------+------+-------+-------------+-----+----+-------+------+
/// | rqSA  | netFn|rqLUN | chk1 | rsSA  | rqSeq|rsLUN | cmd | cc | data  | chk2 |
/// +-------+-------------+------+-------+-------------+-----+----+-------+------+
/// </code>
/// </summary>
public readonly record struct IpmiResponse(byte NetFn, byte Command, byte Sequence, byte CompletionCode, ReadOnlyMemory<byte> Data)
{
    public const int MinimumSize = 8;

    public static bool TryRead(ReadOnlySpan<byte> message, out IpmiResponse response, out string? error)
    {
        response = default;
        if (message.Length < MinimumSize)
        {
            error = "shorter than an IPMI response";
            return false;
        }

        if (IpmiChecksum.Compute(message[..2]) != message[2])
        {
            error = "header checksum mismatch";
            return false;
        }

        if (IpmiChecksum.Compute(message[3..^1]) != message[^1])
        {
            error = "data checksum mismatch";
            return false;
        }

        if ((message[1] >> 2 & 1) == 0)
        {
            error = "network function is a request, not a response";
            return false;
        }

        response = new IpmiResponse((byte)(message[1] >> 2), message[5], (byte)(message[4] >> 2), message[6], message[7..^1].ToArray());
        error = null;
        return true;
    }
}

/// <summary>The IPMI checksum (IPMI 2.0 section 13.8): the two's complement of the 8-bit sum.</summary>
public static class IpmiChecksum
{
    public static byte Compute(ReadOnlySpan<byte> bytes)
    {
        byte sum = 0;
        foreach (var b in bytes)
        {
            sum += b;
        }

        return (byte)-sum;
    }
}

/// <summary>
/// The IPMI 1.5 session wrapper with authentication type "none" (IPMI 2.0 table 13-8), used outside a
/// session for Get Channel Authentication Capabilities.
/// <code>
///  0          1..4         5..8        9        10..
/// +----------+------------+-----------+--------+-------------+
/// | auth 00  | seq (LE)   | sid (LE)  | length | IPMI message|
/// +----------+------------+-----------+--------+-------------+
/// </code>
/// </summary>
public static class Ipmi15Frame
{
    private const int AuthTypeOffset = RmcpHeader.Size;
    private const int LengthOffset = RmcpHeader.Size + 9;
    private const int MessageOffset = RmcpHeader.Size + 10;

    public static bool TryWrite(in IpmiRequest request, Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < MessageOffset + request.Size || request.Size > byte.MaxValue)
        {
            return false;
        }

        RmcpHeader.Write(destination);
        destination[AuthTypeOffset..LengthOffset].Clear();
        destination[LengthOffset] = (byte)request.Size;
        request.TryWrite(destination[MessageOffset..], out var length);
        written = MessageOffset + length;
        return true;
    }

    /// <summary>True when the datagram is an IPMI 1.5 frame (auth type byte not 06).</summary>
    public static bool IsIpmi15(ReadOnlySpan<byte> datagram) =>
        datagram.Length > AuthTypeOffset && datagram[AuthTypeOffset] != RmcpPlusFrame.AuthTypeRmcpPlus;

    public static bool TryRead(ReadOnlySpan<byte> datagram, out IpmiResponse response, out string? error)
    {
        response = default;
        if (!RmcpHeader.TryRead(datagram, out error))
        {
            return false;
        }

        if (datagram.Length < MessageOffset)
        {
            error = "shorter than an IPMI 1.5 session header";
            return false;
        }

        // An authenticated 1.5 frame carries a 16-byte auth code before the length; kldload never opens one.
        if (datagram[AuthTypeOffset] != 0)
        {
            error = $"IPMI 1.5 authentication type {datagram[AuthTypeOffset]:X2} outside a session";
            return false;
        }

        int length = datagram[LengthOffset];
        if (datagram.Length < MessageOffset + length)
        {
            error = "IPMI 1.5 payload is truncated";
            return false;
        }

        return IpmiResponse.TryRead(datagram.Slice(MessageOffset, length), out response, out error);
    }
}
