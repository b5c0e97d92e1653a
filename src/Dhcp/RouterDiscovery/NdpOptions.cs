namespace Kldload.Dhcp.RouterDiscovery;

/// <summary>
/// The options of a Neighbor Discovery message (RFC 4861 section 4.6), as type → body bytes. The
/// length counts the type and length bytes, in units of 8 octets; 0 is invalid. Unknown options are
/// kept as they were read, so a read/write round trip returns the same bytes.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |    Length     |              ...              |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ~                              ...                              ~
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
public sealed class NdpOptions
{
    /// <summary>Options are multiples of this many bytes.</summary>
    public const int Unit = 8;

    private readonly List<(NdpOptionType Type, byte[] Body)> _items = [];

    /// <summary>Each option's type and body (the bytes after type and length).</summary>
    public IReadOnlyList<(NdpOptionType Type, byte[] Body)> Items => _items;

    /// <summary>Bytes these options take on the wire.</summary>
    public int Length => _items.Sum(i => i.Body.Length + 2);

    public bool Contains(NdpOptionType type) => _items.Any(i => i.Type == type);

    public byte[]? Get(NdpOptionType type) => _items.FirstOrDefault(i => i.Type == type).Body;

    /// <summary>Adds an option; the body plus the two header bytes must be a multiple of 8 bytes, at most 255 units.</summary>
    public void Add(NdpOptionType type, byte[] body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if ((body.Length + 2) % Unit != 0 || (body.Length + 2) / Unit > byte.MaxValue)
        {
            throw new ArgumentException("an option's body plus its 2 header bytes must be a multiple of 8 bytes (at most 2040)", nameof(body));
        }

        _items.Add((type, body));
    }

    /// <summary>
    /// The Source Link-Layer Address option for an Ethernet address (RFC 4861 section 4.6.1; RFC 2464
    /// section 6: 6 bytes, one unit).
    /// </summary>
    public void AddSourceLinkLayerAddress(ReadOnlySpan<byte> mac)
    {
        if (mac.Length != 6)
        {
            throw new ArgumentException("an Ethernet address has 6 bytes", nameof(mac));
        }

        Add(NdpOptionType.SourceLinkLayerAddress, mac.ToArray());
    }

    /// <summary>Parses every option in <paramref name="source"/> (all of it must be options).</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out NdpOptions options, out NdpReadError error)
    {
        options = new NdpOptions();
        var i = 0;
        while (i < source.Length)
        {
            if (source.Length - i < 2)
            {
                error = NdpReadError.OptionTruncated;
                return false;
            }

            var units = source[i + 1];
            if (units == 0)
            {
                error = NdpReadError.ZeroLengthOption;
                return false;
            }

            var length = units * Unit;
            if (length > source.Length - i)
            {
                error = NdpReadError.OptionTruncated;
                return false;
            }

            options._items.Add(((NdpOptionType)source[i], source.Slice(i + 2, length - 2).ToArray()));
            i += length;
        }

        error = NdpReadError.None;
        return true;
    }

    /// <summary>Writes every option; false when <paramref name="destination"/> is too small.</summary>
    public bool TryWrite(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Length)
        {
            return false;
        }

        foreach (var (type, body) in _items)
        {
            destination[written] = (byte)type;
            destination[written + 1] = (byte)((body.Length + 2) / Unit);
            body.CopyTo(destination[(written + 2)..]);
            written += body.Length + 2;
        }

        return true;
    }
}
