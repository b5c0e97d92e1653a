using System.Buffers.Binary;

namespace Kldload.Tftp.Protocol;

/// <summary>
/// A read or write request (RFC 1350 section 5, with RFC 2347 section 2 options).
/// <code>
///  2 bytes     string    1 byte   string  1 byte  string  1 byte  string  1 byte
/// +--------+-----------+--------+-------+--------+-------+--------+-------+--------+--
/// | 01/02  |  Filename |   0    |  Mode |   0    | opt1  |   0    | value1|   0    | ...
/// +--------+-----------+--------+-------+--------+-------+--------+-------+--------+--
/// </code>
/// </summary>
public sealed record TftpRequest(TftpOpcode Opcode, string FileName, string Mode, IReadOnlyList<TftpOption> Options)
{
    private const int OpcodeOffset = 0;
    private const int FileNameOffset = 2;

    /// <summary>RFC 1350 mode "octet": bytes as they are.</summary>
    public const string OctetMode = "octet";

    /// <summary>RFC 1350 mode "netascii": CR LF line ends, bare CR sent as CR NUL.</summary>
    public const string NetasciiMode = "netascii";

    /// <summary>The first value of option <paramref name="name"/>, compared case-insensitively.</summary>
    public string? Option(string name)
    {
        foreach (var option in Options)
        {
            if (string.Equals(option.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return option.Value;
            }
        }

        return null;
    }

    public static bool TryRead(ReadOnlySpan<byte> packet, out TftpRequest request, out string? error)
    {
        request = null!;
        if (packet.Length < FileNameOffset)
        {
            error = "shorter than an opcode";
            return false;
        }

        var opcode = (TftpOpcode)BinaryPrimitives.ReadUInt16BigEndian(packet[OpcodeOffset..]);
        if (opcode is not (TftpOpcode.ReadRequest or TftpOpcode.WriteRequest))
        {
            error = $"opcode {(ushort)opcode} is not RRQ or WRQ";
            return false;
        }

        var rest = packet[FileNameOffset..];
        if (!TftpStringField.TryRead(rest, out var fileName, out var used))
        {
            error = "filename is not NUL-terminated";
            return false;
        }

        rest = rest[used..];
        if (!TftpStringField.TryRead(rest, out var mode, out used))
        {
            error = "mode is not NUL-terminated";
            return false;
        }

        rest = rest[used..];
        if (fileName.Length == 0)
        {
            error = "empty filename";
            return false;
        }

        if (mode.Length == 0)
        {
            error = "empty mode";
            return false;
        }

        if (!TftpStringField.TryReadOptions(rest, out var options, out error))
        {
            return false;
        }

        request = new TftpRequest(opcode, fileName, mode, options);
        return true;
    }

    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < FileNameOffset)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)Opcode);
        var at = FileNameOffset;
        if (!TftpStringField.TryWrite(destination[at..], FileName, out var n))
        {
            return false;
        }

        at += n;
        if (!TftpStringField.TryWrite(destination[at..], Mode, out n))
        {
            return false;
        }

        at += n;
        if (!TftpStringField.TryWriteOptions(destination[at..], Options, out n))
        {
            return false;
        }

        written = at + n;
        return true;
    }
}
