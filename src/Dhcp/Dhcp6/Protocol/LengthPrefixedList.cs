using System.Buffers.Binary;

namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>
/// A run of items each preceded by a 16-bit length: the data of OPTION_USER_CLASS (RFC 8415 section
/// 21.15), the part of OPTION_VENDOR_CLASS after the enterprise number (section 21.16) and
/// OPTION_BOOTFILE_PARAM (RFC 5970 section 3.2).
/// <code>
/// | len (2) | item (len) | len (2) | item (len) | ...
/// </code>
/// </summary>
public static class LengthPrefixedList
{
    /// <summary>Parses items that fill <paramref name="data"/> exactly; false when one runs past the end.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out List<byte[]> items)
    {
        items = [];
        var offset = 0;
        while (offset < data.Length)
        {
            if (data.Length - offset < 2)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(data[offset..]);
            offset += 2;
            if (data.Length - offset < length)
            {
                return false;
            }

            items.Add(data.Slice(offset, length).ToArray());
            offset += length;
        }

        return true;
    }

    public static byte[] ToArray(IEnumerable<byte[]> items)
    {
        var list = items.ToList();
        var bytes = new byte[list.Sum(i => 2 + i.Length)];
        var offset = 0;
        foreach (var item in list)
        {
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(offset), (ushort)item.Length);
            item.CopyTo(bytes, offset + 2);
            offset += 2 + item.Length;
        }

        return bytes;
    }
}
