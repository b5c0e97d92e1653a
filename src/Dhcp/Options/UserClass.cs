using System.Text;

namespace Kldload.Dhcp.Options;

/// <summary>
/// Option 77, user class (RFC 3004 section 4). The RFC form is a list of length-prefixed strings:
/// <code>
/// +-----+-----+------+----------+------+----------+---
/// | 77  | len | len1 | class 1  | len2 | class 2  | ...
/// +-----+-----+------+----------+------+----------+---
/// </code>
/// Many clients (iPXE, dhclient) send one bare string instead; when the bytes do not parse as the
/// RFC form exactly, the whole value is taken as one class.
/// </summary>
public static class UserClass
{
    public static IReadOnlyList<string> Decode(byte[]? data)
    {
        if (data is null || data.Length == 0)
        {
            return [];
        }

        var list = new List<string>();
        var i = 0;
        while (i < data.Length)
        {
            var len = data[i];
            if (len == 0 || i + 1 + len > data.Length)
            {
                return [Encoding.ASCII.GetString(data)];
            }

            list.Add(Encoding.ASCII.GetString(data, i + 1, len));
            i += 1 + len;
        }

        return list;
    }

    /// <summary>Encodes classes in the RFC 3004 form.</summary>
    public static byte[] Encode(IEnumerable<string> classes)
    {
        var ms = new MemoryStream();
        foreach (var c in classes)
        {
            var b = Encoding.ASCII.GetBytes(c);
            ms.WriteByte((byte)b.Length);
            ms.Write(b);
        }

        return ms.ToArray();
    }
}
