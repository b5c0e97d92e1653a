namespace Kldload.Dhcp.Options;

/// <summary>
/// A list of <c>code, length, value</c> sub-options as encapsulated in options 43 (RFC 2132
/// section 8.4), 82 (RFC 3046 section 2.0) and 175 (iPXE). Pad (0) and End (255) are honoured
/// where the encapsulating option allows them.
/// <code>
/// +------+-----+------------+------+-----+------------+---
/// | code | len | value      | code | len | value      | ...
/// +------+-----+------------+------+-----+------------+---
/// </code>
/// </summary>
public sealed class SubOptionList
{
    private readonly List<(byte Code, byte[] Data)> _items = [];

    public IReadOnlyList<(byte Code, byte[] Data)> Items => _items;

    public byte[]? Get(byte code)
    {
        foreach (var (c, d) in _items)
        {
            if (c == code)
            {
                return d;
            }
        }

        return null;
    }

    public void Add(byte code, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length > 255)
        {
            throw new ArgumentException("a sub-option holds at most 255 bytes", nameof(data));
        }

        _items.Add((code, data));
    }

    /// <summary>Parses sub-options; <paramref name="padAndEnd"/> treats 0 and 255 as Pad/End (options 43, 175).</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, bool padAndEnd, out SubOptionList list)
    {
        list = new SubOptionList();
        var i = 0;
        while (i < source.Length)
        {
            var code = source[i];
            if (padAndEnd && code == 0)
            {
                i++;
                continue;
            }

            if (padAndEnd && code == 255)
            {
                return true;
            }

            if (i + 2 > source.Length || i + 2 + source[i + 1] > source.Length)
            {
                return false;
            }

            list._items.Add((code, source.Slice(i + 2, source[i + 1]).ToArray()));
            i += 2 + source[i + 1];
        }

        return true;
    }

    public int Length => _items.Sum(i => 2 + i.Data.Length);

    /// <summary>Encodes the list, with a closing End when <paramref name="withEnd"/>.</summary>
    public byte[] ToArray(bool withEnd = false)
    {
        var buffer = new byte[Length + (withEnd ? 1 : 0)];
        var i = 0;
        foreach (var (code, data) in _items)
        {
            buffer[i] = code;
            buffer[i + 1] = (byte)data.Length;
            data.CopyTo(buffer, i + 2);
            i += 2 + data.Length;
        }

        if (withEnd)
        {
            buffer[i] = 255;
        }

        return buffer;
    }
}
