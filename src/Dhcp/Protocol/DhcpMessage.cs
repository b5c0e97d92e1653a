using System.Buffers.Binary;
using System.Text;
using Kldload.Dhcp.Options;

namespace Kldload.Dhcp.Protocol;

/// <summary>
/// A DHCPv4 message (RFC 2131 section 2, figure 1): the BOOTP fixed header followed by the magic
/// cookie and options. <c>sname</c> and <c>file</c> may carry options instead of text when option 52
/// says so (RFC 2132 section 9.3); the reader folds those into <see cref="Options"/>.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------+---------------+---------------+---------------+
/// |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |  0
/// +---------------+---------------+---------------+---------------+
/// |                            xid (4)                            |  4
/// +-------------------------------+-------------------------------+
/// |           secs (2)            |           flags (2)           |  8
/// +-------------------------------+-------------------------------+
/// |    ciaddr (4) 12   yiaddr (4) 16   siaddr (4) 20  giaddr (4) 24 |
/// +---------------------------------------------------------------+
/// |                       chaddr (16)                          28 |
/// |                       sname  (64)                          44 |
/// |                       file   (128)                        108 |
/// +---------------------------------------------------------------+
/// |  magic cookie 99.130.83.99  236 |  options (variable)     240 |
/// +---------------------------------------------------------------+
/// </code>
/// </summary>
public sealed class DhcpMessage
{
    public const int OpOffset = 0;
    public const int HTypeOffset = 1;
    public const int HLenOffset = 2;
    public const int HopsOffset = 3;
    public const int XidOffset = 4;
    public const int SecsOffset = 8;
    public const int FlagsOffset = 10;
    public const int CiaddrOffset = 12;
    public const int YiaddrOffset = 16;
    public const int SiaddrOffset = 20;
    public const int GiaddrOffset = 24;
    public const int ChaddrOffset = 28;
    public const int ChaddrLength = 16;
    public const int SnameOffset = 44;
    public const int SnameLength = 64;
    public const int FileOffset = 108;
    public const int FileLength = 128;
    public const int MagicCookieOffset = 236;
    public const int OptionsOffset = 240;

    /// <summary>99.130.83.99 (RFC 2131 section 3).</summary>
    public const uint MagicCookie = 0x63825363;

    /// <summary>The broadcast bit of <c>flags</c> (RFC 2131 section 2, figure 2).</summary>
    public const ushort BroadcastFlag = 0x8000;

    /// <summary>Every DHCP client must accept a message this long (RFC 2131 section 2).</summary>
    public const int MinimumMaxMessageSize = 576;

    /// <summary>BOOTP relays and old clients drop replies shorter than this (RFC 1542 section 2.1).</summary>
    public const int MinimumBootpLength = 300;

    /// <summary>Ethernet hardware type (htype 1).</summary>
    public const byte HardwareTypeEthernet = 1;

    public BootOp Op { get; set; } = BootOp.BootRequest;

    public byte HardwareType { get; set; } = HardwareTypeEthernet;

    public byte HardwareLength { get; set; } = 6;

    public byte Hops { get; set; }

    public uint TransactionId { get; set; }

    public ushort Seconds { get; set; }

    public ushort Flags { get; set; }

    public Ipv4Address ClientAddress { get; set; }

    public Ipv4Address YourAddress { get; set; }

    public Ipv4Address ServerAddress { get; set; }

    public Ipv4Address RelayAddress { get; set; }

    /// <summary>The 16-byte <c>chaddr</c> field; the first <see cref="HardwareLength"/> bytes matter.</summary>
    public byte[] ClientHardwareAddress { get; set; } = new byte[ChaddrLength];

    /// <summary><c>sname</c> as text (empty when it carried options).</summary>
    public string ServerName { get; set; } = string.Empty;

    /// <summary><c>file</c> as text (empty when it carried options).</summary>
    public string BootFile { get; set; } = string.Empty;

    public DhcpOptions Options { get; } = new();

    public bool IsBroadcast
    {
        get => (Flags & BroadcastFlag) != 0;
        set => Flags = value ? (ushort)(Flags | BroadcastFlag) : (ushort)(Flags & ~BroadcastFlag);
    }

    /// <summary>The hardware address bytes (<c>chaddr</c> cut to <c>hlen</c>).</summary>
    public ReadOnlySpan<byte> HardwareAddress => ClientHardwareAddress.AsSpan(0, Math.Min(HardwareLength, (byte)ChaddrLength));

    /// <summary>The hardware address as <c>aa:bb:cc:dd:ee:ff</c>.</summary>
    public string HardwareAddressText => Convert.ToHexString(HardwareAddress).ToLowerInvariant() is var hex
        ? string.Join(':', Enumerable.Range(0, hex.Length / 2).Select(i => hex.Substring(i * 2, 2)))
        : string.Empty;

    /// <summary>Parses one datagram. Never throws: malformed input returns false with the reason.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out DhcpMessage message, out DhcpReadError error)
    {
        message = new DhcpMessage();
        if (source.Length < OptionsOffset)
        {
            error = DhcpReadError.TooShort;
            return false;
        }

        if (source[OpOffset] is not ((byte)BootOp.BootRequest or (byte)BootOp.BootReply))
        {
            error = DhcpReadError.BadOp;
            return false;
        }

        if (source[HLenOffset] > ChaddrLength)
        {
            error = DhcpReadError.BadHardwareLength;
            return false;
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(source[MagicCookieOffset..]) != MagicCookie)
        {
            error = DhcpReadError.BadMagicCookie;
            return false;
        }

        message.Op = (BootOp)source[OpOffset];
        message.HardwareType = source[HTypeOffset];
        message.HardwareLength = source[HLenOffset];
        message.Hops = source[HopsOffset];
        message.TransactionId = BinaryPrimitives.ReadUInt32BigEndian(source[XidOffset..]);
        message.Seconds = BinaryPrimitives.ReadUInt16BigEndian(source[SecsOffset..]);
        message.Flags = BinaryPrimitives.ReadUInt16BigEndian(source[FlagsOffset..]);
        message.ClientAddress = Ipv4Address.Read(source[CiaddrOffset..]);
        message.YourAddress = Ipv4Address.Read(source[YiaddrOffset..]);
        message.ServerAddress = Ipv4Address.Read(source[SiaddrOffset..]);
        message.RelayAddress = Ipv4Address.Read(source[GiaddrOffset..]);
        source.Slice(ChaddrOffset, ChaddrLength).CopyTo(message.ClientHardwareAddress);

        error = ReadOptions(source[OptionsOffset..], message.Options);
        if (error != DhcpReadError.None)
        {
            return false;
        }

        // RFC 2132 section 9.3 / RFC 3396 section 5: options continue in file, then in sname.
        var overload = message.Options.Get(DhcpOptionCode.OptionOverload);
        var sname = source.Slice(SnameOffset, SnameLength);
        var file = source.Slice(FileOffset, FileLength);
        if (overload is null)
        {
            message.ServerName = ReadText(sname);
            message.BootFile = ReadText(file);
        }
        else
        {
            if (overload.Length != 1 || overload[0] is < 1 or > 3)
            {
                error = DhcpReadError.BadOverload;
                return false;
            }

            if ((overload[0] & 1) != 0)
            {
                error = ReadOptions(file, message.Options);
            }
            else
            {
                message.BootFile = ReadText(file);
            }

            if (error == DhcpReadError.None && (overload[0] & 2) != 0)
            {
                error = ReadOptions(sname, message.Options);
            }
            else
            {
                message.ServerName = ReadText(sname);
            }

            message.Options.Remove(DhcpOptionCode.OptionOverload);
            if (error != DhcpReadError.None)
            {
                return false;
            }
        }

        return true;
    }

    private static DhcpReadError ReadOptions(ReadOnlySpan<byte> field, DhcpOptions options)
    {
        var i = 0;
        while (i < field.Length)
        {
            var code = field[i];
            if (code == (byte)DhcpOptionCode.Pad)
            {
                i++;
                continue;
            }

            if (code == (byte)DhcpOptionCode.End)
            {
                return DhcpReadError.None;
            }

            if (i + 1 >= field.Length)
            {
                return DhcpReadError.OptionTruncated;
            }

            var len = field[i + 1];
            if (i + 2 + len > field.Length)
            {
                return DhcpReadError.OptionTruncated;
            }

            options.Append(code, field.Slice(i + 2, len));
            i += 2 + len;
        }

        return DhcpReadError.MissingEnd;
    }

    private static string ReadText(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? field : field[..end]);
    }

    /// <summary>
    /// Writes the message into <paramref name="destination"/>, whose length is the largest message
    /// the receiver accepts. Options longer than 255 bytes are split (RFC 3396); when the options do not
    /// fit and <c>file</c>/<c>sname</c> are unused, they continue there with option 52. The result is
    /// padded to 300 bytes. Returns false when the message does not fit.
    /// </summary>
    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < MinimumBootpLength)
        {
            return false;
        }

        destination[..OptionsOffset].Clear();
        destination[OpOffset] = (byte)Op;
        destination[HTypeOffset] = HardwareType;
        destination[HLenOffset] = HardwareLength;
        destination[HopsOffset] = Hops;
        BinaryPrimitives.WriteUInt32BigEndian(destination[XidOffset..], TransactionId);
        BinaryPrimitives.WriteUInt16BigEndian(destination[SecsOffset..], Seconds);
        BinaryPrimitives.WriteUInt16BigEndian(destination[FlagsOffset..], Flags);
        ClientAddress.Write(destination[CiaddrOffset..]);
        YourAddress.Write(destination[YiaddrOffset..]);
        ServerAddress.Write(destination[SiaddrOffset..]);
        RelayAddress.Write(destination[GiaddrOffset..]);
        ClientHardwareAddress.AsSpan(0, Math.Min(ClientHardwareAddress.Length, ChaddrLength)).CopyTo(destination[ChaddrOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination[MagicCookieOffset..], MagicCookie);
        if (!WriteText(ServerName, destination.Slice(SnameOffset, SnameLength))
            || !WriteText(BootFile, destination.Slice(FileOffset, FileLength)))
        {
            return false;
        }

        var mainSpace = destination.Length - OptionsOffset;
        var total = 1;
        foreach (var (_, data) in Options.All)
        {
            total += EncodedLength(data.Length);
        }

        int end;
        if (total <= mainSpace)
        {
            end = OptionsOffset;
            foreach (var (code, data) in Options.All)
            {
                end += WriteOption(destination[end..], (byte)code, data);
            }

            destination[end++] = (byte)DhcpOptionCode.End;
        }
        else if (!TryWriteOverloaded(destination, out end))
        {
            return false;
        }

        if (end < MinimumBootpLength)
        {
            destination[end..MinimumBootpLength].Clear();
            end = MinimumBootpLength;
        }

        written = end;
        return true;
    }

    /// <summary>Puts options into the options field, then <c>file</c>, then <c>sname</c> (RFC 3396 section 5).</summary>
    private bool TryWriteOverloaded(Span<byte> destination, out int end)
    {
        end = 0;
        var useFile = BootFile.Length == 0;
        var useSname = ServerName.Length == 0;
        if (!useFile && !useSname)
        {
            return false;
        }

        // Chunks of at most 255 bytes; each goes whole into the first field with room left.
        var chunks = new List<(byte Code, ReadOnlyMemory<byte> Data)>();
        foreach (var (code, data) in Options.All)
        {
            for (var offset = 0; offset == 0 || offset < data.Length; offset += 255)
            {
                chunks.Add(((byte)code, data.AsMemory(offset, Math.Min(255, data.Length - offset))));
            }
        }

        // Main field keeps 3 bytes for option 52 and 1 for End.
        var fields = new List<(int Offset, int Length)> { (OptionsOffset + 3, destination.Length - OptionsOffset - 3) };
        if (useFile)
        {
            fields.Add((FileOffset, FileLength));
        }

        if (useSname)
        {
            fields.Add((SnameOffset, SnameLength));
        }

        var positions = fields.Select(f => f.Offset).ToArray();
        var fieldIndex = 0;
        foreach (var (code, data) in chunks)
        {
            while (fieldIndex < fields.Count && positions[fieldIndex] + 2 + data.Length + 1 > fields[fieldIndex].Offset + fields[fieldIndex].Length)
            {
                fieldIndex++;
            }

            if (fieldIndex == fields.Count)
            {
                return false;
            }

            positions[fieldIndex] += WriteOption(destination[positions[fieldIndex]..], code, data.Span);
        }

        byte overload = 0;
        for (var f = 0; f < fields.Count; f++)
        {
            var used = f == 0 || positions[f] > fields[f].Offset;
            if (!used)
            {
                continue;
            }

            destination[positions[f]] = (byte)DhcpOptionCode.End;
            if (f > 0)
            {
                overload |= fields[f].Offset == FileOffset ? (byte)1 : (byte)2;
            }
        }

        destination[OptionsOffset] = (byte)DhcpOptionCode.OptionOverload;
        destination[OptionsOffset + 1] = 1;
        destination[OptionsOffset + 2] = overload;
        end = positions[0] + 1;
        return true;
    }

    private static int EncodedLength(int dataLength) =>
        dataLength == 0 ? 2 : dataLength + (2 * ((dataLength + 254) / 255));

    /// <summary>Writes one option, split into 255-byte instances when longer (RFC 3396 section 7).</summary>
    private static int WriteOption(Span<byte> destination, byte code, ReadOnlySpan<byte> data)
    {
        var i = 0;
        var offset = 0;
        do
        {
            var len = Math.Min(255, data.Length - offset);
            destination[i] = code;
            destination[i + 1] = (byte)len;
            data.Slice(offset, len).CopyTo(destination[(i + 2)..]);
            i += 2 + len;
            offset += len;
        }
        while (offset < data.Length);
        return i;
    }

    private static bool WriteText(string text, Span<byte> field)
    {
        field.Clear();
        if (text.Length >= field.Length)
        {
            return false;
        }

        Encoding.ASCII.GetBytes(text, field);
        return true;
    }

    /// <summary>Serialises into a new array with at most <paramref name="maxSize"/> bytes.</summary>
    public byte[] ToArray(int maxSize = 1500)
    {
        var buffer = new byte[Math.Max(maxSize, MinimumBootpLength)];
        if (!TryWrite(buffer, out var n))
        {
            throw new InvalidOperationException("the options do not fit into the message");
        }

        return buffer[..n];
    }
}
