using System.Buffers.Binary;
using System.Text;

namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>
/// OPTION_STATUS_CODE (RFC 8415 section 21.13): a status and a UTF-8 message for people.
/// <code>
/// | status-code (2) | status-message (UTF-8, rest of the option) |
/// </code>
/// </summary>
public sealed record StatusCodeOption(Dhcp6StatusCode Code, string Message)
{
    public static bool TryRead(ReadOnlySpan<byte> data, out StatusCodeOption status)
    {
        if (data.Length < 2)
        {
            status = new StatusCodeOption(Dhcp6StatusCode.Success, string.Empty);
            return false;
        }

        status = new StatusCodeOption((Dhcp6StatusCode)BinaryPrimitives.ReadUInt16BigEndian(data), Encoding.UTF8.GetString(data[2..]));
        return true;
    }

    public byte[] ToArray()
    {
        var bytes = new byte[2 + Encoding.UTF8.GetByteCount(Message)];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)Code);
        Encoding.UTF8.GetBytes(Message, bytes.AsSpan(2));
        return bytes;
    }
}
