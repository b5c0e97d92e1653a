using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>
/// The options of one DHCPv6 message or of one encapsulating option (IA_NA, IAADDR), in wire order.
/// Unlike DHCPv4, a code may appear several times with separate meanings (two IA_NA options are two
/// identity associations, RFC 8415 section 21.4), so instances are kept apart, never concatenated.
/// Unknown codes are kept as raw bytes: a read/write round trip reproduces the input.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-------------------------------+-------------------------------+
/// |          option-code          |           option-len          |
/// +-------------------------------+-------------------------------+
/// |                          option-data                          |
/// |                      (option-len octets)                      |
/// +---------------------------------------------------------------+
/// </code>
/// (RFC 8415 section 21.1.)
/// </summary>
public sealed class Dhcp6Options
{
    /// <summary>Bytes of an option header (code and length).</summary>
    public const int HeaderLength = 4;

    private readonly List<(Dhcp6OptionCode Code, byte[] Data)> _items = [];

    public int Count => _items.Count;

    /// <summary>Every option in order, repeated codes included.</summary>
    public IReadOnlyList<(Dhcp6OptionCode Code, byte[] Data)> All => _items;

    public bool Contains(Dhcp6OptionCode code) => _items.Exists(i => i.Code == code);

    /// <summary>The first instance of <paramref name="code"/>, or null.</summary>
    public byte[]? Get(Dhcp6OptionCode code)
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

    /// <summary>Every instance of <paramref name="code"/>, in order.</summary>
    public IEnumerable<byte[]> GetAll(Dhcp6OptionCode code) => _items.Where(i => i.Code == code).Select(i => i.Data);

    /// <summary>Appends an instance (a code may repeat).</summary>
    public void Add(Dhcp6OptionCode code, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length > ushort.MaxValue)
        {
            throw new ArgumentException($"option {code} is {data.Length} bytes; at most 65535 fit (RFC 8415 section 21.1)", nameof(data));
        }

        _items.Add((code, data));
    }

    /// <summary>Replaces every instance of <paramref name="code"/> with one, at the first one's place (or at the end).</summary>
    public void Set(Dhcp6OptionCode code, byte[] data)
    {
        var i = _items.FindIndex(x => x.Code == code);
        if (i < 0)
        {
            Add(code, data);
            return;
        }

        ArgumentNullException.ThrowIfNull(data);
        _items[i] = (code, data);
        for (var j = _items.Count - 1; j > i; j--)
        {
            if (_items[j].Code == code)
            {
                _items.RemoveAt(j);
            }
        }
    }

    public void Remove(Dhcp6OptionCode code) => _items.RemoveAll(x => x.Code == code);

    /// <summary>Bytes <see cref="Write"/> produces.</summary>
    public int EncodedLength
    {
        get
        {
            var n = 0;
            foreach (var (_, d) in _items)
            {
                n += HeaderLength + d.Length;
            }

            return n;
        }
    }

    /// <summary>Parses a run of options that fills <paramref name="source"/> exactly. Never throws.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out Dhcp6Options options, out Dhcp6ReadError error)
    {
        options = new Dhcp6Options();
        var offset = 0;
        while (offset < source.Length)
        {
            if (source.Length - offset < HeaderLength)
            {
                error = Dhcp6ReadError.OptionTruncated;
                return false;
            }

            var code = BinaryPrimitives.ReadUInt16BigEndian(source[offset..]);
            var length = BinaryPrimitives.ReadUInt16BigEndian(source[(offset + 2)..]);
            offset += HeaderLength;
            if (source.Length - offset < length)
            {
                error = Dhcp6ReadError.OptionTruncated;
                return false;
            }

            options._items.Add(((Dhcp6OptionCode)code, source.Slice(offset, length).ToArray()));
            offset += length;
        }

        error = Dhcp6ReadError.None;
        return true;
    }

    /// <summary>Writes every option; <paramref name="destination"/> must hold <see cref="EncodedLength"/> bytes.</summary>
    public int Write(Span<byte> destination)
    {
        var offset = 0;
        foreach (var (code, data) in _items)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], (ushort)code);
            BinaryPrimitives.WriteUInt16BigEndian(destination[(offset + 2)..], (ushort)data.Length);
            data.CopyTo(destination[(offset + HeaderLength)..]);
            offset += HeaderLength + data.Length;
        }

        return offset;
    }

    /// <summary>The options as one byte array (for an encapsulating option's data).</summary>
    public byte[] ToArray()
    {
        var bytes = new byte[EncodedLength];
        Write(bytes);
        return bytes;
    }

    /// <summary>OPTION_CLIENTID (RFC 8415 section 21.2), or null.</summary>
    public Duid? ClientId => Get(Dhcp6OptionCode.ClientId) is { Length: > 0 } d ? new Duid(d) : null;

    /// <summary>OPTION_SERVERID (RFC 8415 section 21.3), or null.</summary>
    public Duid? ServerId => Get(Dhcp6OptionCode.ServerId) is { Length: > 0 } d ? new Duid(d) : null;

    /// <summary>OPTION_ORO (RFC 8415 section 21.7): the option codes the client asks for; empty when absent or of odd length.</summary>
    public IReadOnlyList<Dhcp6OptionCode> RequestedOptions => ReadUInt16List(Get(Dhcp6OptionCode.OptionRequest)).Select(v => (Dhcp6OptionCode)v).ToList();

    /// <summary>OPTION_CLIENT_ARCH_TYPE (RFC 5970 section 3.3): architectures in the client's order; empty when absent or of odd length.</summary>
    public IReadOnlyList<ClientArchitecture> ClientArchitectures => ReadUInt16List(Get(Dhcp6OptionCode.ClientArchitecture)).Select(v => (ClientArchitecture)v).ToList();

    /// <summary>OPTION_RAPID_COMMIT (RFC 8415 section 21.14) is present.</summary>
    public bool RapidCommit => Contains(Dhcp6OptionCode.RapidCommit);

    /// <summary>OPTION_BOOTFILE_URL (RFC 5970 section 3.1) as text, or null.</summary>
    public string? BootFileUrl => Get(Dhcp6OptionCode.BootFileUrl) is { } d ? Encoding.UTF8.GetString(d) : null;

    /// <summary>OPTION_VENDOR_CLASS (RFC 8415 section 21.16), the first instance that parses, or null.</summary>
    public VendorClass? VendorClass => Get(Dhcp6OptionCode.VendorClass) is { } d && VendorClass.TryRead(d, out var v) ? v : null;

    /// <summary>OPTION_USER_CLASS (RFC 8415 section 21.15) entries as text; empty when absent or malformed.</summary>
    public IReadOnlyList<string> UserClasses => Get(Dhcp6OptionCode.UserClass) is { } d && LengthPrefixedList.TryRead(d, out var items)
        ? items.Select(i => Encoding.ASCII.GetString(i)).ToList()
        : [];

    /// <summary>OPTION_CLIENT_LINKLAYER_ADDR (RFC 6939 section 4): hardware type and address, or null.</summary>
    public (ushort HardwareType, byte[] Address)? ClientLinkLayerAddress =>
        Get(Dhcp6OptionCode.ClientLinkLayerAddress) is { Length: > 2 } d ? (BinaryPrimitives.ReadUInt16BigEndian(d), d[2..]) : null;

    /// <summary>Every IA_NA that parses, in order (RFC 8415 section 21.4).</summary>
    public IReadOnlyList<IaNa> IaNas
    {
        get
        {
            var list = new List<IaNa>();
            foreach (var d in GetAll(Dhcp6OptionCode.IaNa))
            {
                if (IaNa.TryRead(d, out var ia, out _))
                {
                    list.Add(ia);
                }
            }

            return list;
        }
    }

    /// <summary>Every IAADDR that parses, in order (inside an IA_NA, RFC 8415 section 21.6).</summary>
    public IReadOnlyList<IaAddress> IaAddresses
    {
        get
        {
            var list = new List<IaAddress>();
            foreach (var d in GetAll(Dhcp6OptionCode.IaAddress))
            {
                if (IaAddress.TryRead(d, out var a, out _))
                {
                    list.Add(a);
                }
            }

            return list;
        }
    }

    /// <summary>OPTION_STATUS_CODE, or null when absent or shorter than 2 bytes.</summary>
    public StatusCodeOption? Status => Get(Dhcp6OptionCode.StatusCode) is { } d && StatusCodeOption.TryRead(d, out var s) ? s : null;

    /// <summary>Sets OPTION_STATUS_CODE.</summary>
    public void SetStatus(Dhcp6StatusCode code, string message) => Set(Dhcp6OptionCode.StatusCode, new StatusCodeOption(code, message).ToArray());

    /// <summary>Adds OPTION_DNS_SERVERS (RFC 3646 section 3).</summary>
    public void SetDnsServers(IEnumerable<IPAddress> servers)
    {
        var list = servers.ToList();
        var data = new byte[list.Count * 16];
        for (var i = 0; i < list.Count; i++)
        {
            list[i].TryWriteBytes(data.AsSpan(i * 16), out _);
        }

        Set(Dhcp6OptionCode.DnsServers, data);
    }

    /// <summary>A list of 16-bit values; empty when <paramref name="data"/> is null or of odd length.</summary>
    internal static List<ushort> ReadUInt16List(byte[]? data)
    {
        var list = new List<ushort>();
        if (data is null || data.Length % 2 != 0)
        {
            return list;
        }

        for (var i = 0; i < data.Length; i += 2)
        {
            list.Add(BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(i)));
        }

        return list;
    }

    /// <summary>16-bit values as option data.</summary>
    public static byte[] UInt16List(IEnumerable<ushort> values)
    {
        var list = values.ToList();
        var data = new byte[list.Count * 2];
        for (var i = 0; i < list.Count; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(i * 2), list[i]);
        }

        return data;
    }
}
