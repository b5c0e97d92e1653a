using System.Buffers.Binary;
using System.Text;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Options;

/// <summary>
/// The options of one message as <c>code → raw bytes</c>, in the order they first appeared.
/// A code seen several times is one option whose values are concatenated (RFC 3396 section 5);
/// the writer splits values longer than 255 bytes back into several instances. Unknown codes are
/// kept as raw bytes so a read/write round trip preserves them. Typed accessors decode the options
/// kldload uses; each names its RFC section.
/// <code>
/// option:  +------+-----+---------------+
///          | code | len |  len octets   |   (Pad = 0 and End = 255 have no len)
///          +------+-----+---------------+
/// </code>
/// </summary>
public sealed class DhcpOptions
{
    private readonly List<(byte Code, byte[] Data)> _items = [];

    public int Count => _items.Count;

    /// <summary>The options in order, with concatenated values.</summary>
    public IEnumerable<(DhcpOptionCode Code, byte[] Data)> All => _items.Select(i => ((DhcpOptionCode)i.Code, i.Data));

    public bool Contains(DhcpOptionCode code) => IndexOf((byte)code) >= 0;

    public bool TryGet(DhcpOptionCode code, out byte[] data)
    {
        var i = IndexOf((byte)code);
        data = i >= 0 ? _items[i].Data : [];
        return i >= 0;
    }

    public byte[]? Get(DhcpOptionCode code) => TryGet(code, out var d) ? d : null;

    /// <summary>Sets (replaces) an option, keeping its position if it was already present.</summary>
    public void Set(DhcpOptionCode code, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var i = IndexOf((byte)code);
        if (i >= 0)
        {
            _items[i] = ((byte)code, data);
        }
        else
        {
            _items.Add(((byte)code, data));
        }
    }

    public bool Remove(DhcpOptionCode code)
    {
        var i = IndexOf((byte)code);
        if (i >= 0)
        {
            _items.RemoveAt(i);
        }

        return i >= 0;
    }

    /// <summary>Appends bytes to an option (RFC 3396: repeated instances concatenate).</summary>
    internal void Append(byte code, ReadOnlySpan<byte> data)
    {
        var i = IndexOf(code);
        if (i < 0)
        {
            _items.Add((code, data.ToArray()));
            return;
        }

        var old = _items[i].Data;
        var joined = new byte[old.Length + data.Length];
        old.CopyTo(joined, 0);
        data.CopyTo(joined.AsSpan(old.Length));
        _items[i] = (code, joined);
    }

    private int IndexOf(byte code)
    {
        for (var i = 0; i < _items.Count; i++)
        {
            if (_items[i].Code == code)
            {
                return i;
            }
        }

        return -1;
    }

    // ---- typed accessors -------------------------------------------------------------------

    /// <summary>Option 53 (RFC 2132 section 9.6); null when absent or malformed.</summary>
    public DhcpMessageType? MessageType
    {
        get => TryGet(DhcpOptionCode.MessageType, out var d) && d.Length == 1 && d[0] is >= 1 and <= 8 ? (DhcpMessageType)d[0] : null;
        set => SetOrRemove(DhcpOptionCode.MessageType, value is { } v ? [(byte)v] : null);
    }

    public Ipv4Address? GetAddress(DhcpOptionCode code) =>
        TryGet(code, out var d) && d.Length == 4 ? Ipv4Address.Read(d) : null;

    public void SetAddress(DhcpOptionCode code, Ipv4Address address)
    {
        var d = new byte[4];
        address.Write(d);
        Set(code, d);
    }

    public IReadOnlyList<Ipv4Address> GetAddresses(DhcpOptionCode code)
    {
        if (!TryGet(code, out var d) || d.Length % 4 != 0)
        {
            return [];
        }

        var list = new Ipv4Address[d.Length / 4];
        for (var i = 0; i < list.Length; i++)
        {
            list[i] = Ipv4Address.Read(d.AsSpan(i * 4));
        }

        return list;
    }

    public void SetAddresses(DhcpOptionCode code, IReadOnlyList<Ipv4Address> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var d = new byte[addresses.Count * 4];
        for (var i = 0; i < addresses.Count; i++)
        {
            addresses[i].Write(d.AsSpan(i * 4));
        }

        Set(code, d);
    }

    public uint? GetUInt32(DhcpOptionCode code) =>
        TryGet(code, out var d) && d.Length == 4 ? BinaryPrimitives.ReadUInt32BigEndian(d) : null;

    public void SetUInt32(DhcpOptionCode code, uint value)
    {
        var d = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(d, value);
        Set(code, d);
    }

    public ushort? GetUInt16(DhcpOptionCode code) =>
        TryGet(code, out var d) && d.Length == 2 ? BinaryPrimitives.ReadUInt16BigEndian(d) : null;

    public void SetUInt16(DhcpOptionCode code, ushort value)
    {
        var d = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(d, value);
        Set(code, d);
    }

    /// <summary>An NVT ASCII option (12, 15, 56, 60, 66, 67); a trailing NUL is tolerated.</summary>
    public string? GetString(DhcpOptionCode code) =>
        TryGet(code, out var d) ? Encoding.ASCII.GetString(d).TrimEnd('\0') : null;

    public void SetString(DhcpOptionCode code, string value) => Set(code, Encoding.ASCII.GetBytes(value));

    /// <summary>Option 93 (RFC 4578 section 2.1): one or more 16-bit architecture types.</summary>
    public IReadOnlyList<ClientArchitecture> ClientArchitectures
    {
        get
        {
            if (!TryGet(DhcpOptionCode.ClientArchitecture, out var d) || d.Length < 2 || d.Length % 2 != 0)
            {
                return [];
            }

            var list = new ClientArchitecture[d.Length / 2];
            for (var i = 0; i < list.Length; i++)
            {
                list[i] = (ClientArchitecture)BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(i * 2));
            }

            return list;
        }
    }

    /// <summary>Option 97 (RFC 4578 section 2.3): type 0 followed by a 16-byte UUID; null otherwise.</summary>
    public Guid? ClientMachineId =>
        TryGet(DhcpOptionCode.ClientMachineId, out var d) && d.Length == 17 && d[0] == 0
            ? new Guid(d.AsSpan(1), bigEndian: true)
            : null;

    /// <summary>Option 55 (RFC 2132 section 9.8): the codes the client asks for, in its order.</summary>
    public IReadOnlyList<DhcpOptionCode> ParameterRequestList =>
        TryGet(DhcpOptionCode.ParameterRequestList, out var d) ? d.Select(b => (DhcpOptionCode)b).ToArray() : [];

    /// <summary>Option 77 (RFC 3004 section 4): user class strings; a bare string (as iPXE sends) is one entry.</summary>
    public IReadOnlyList<string> UserClasses => UserClass.Decode(Get(DhcpOptionCode.UserClass));

    /// <summary>Option 82 (RFC 3046); null when absent or malformed.</summary>
    public RelayAgentInformation? RelayAgentInformation =>
        TryGet(DhcpOptionCode.RelayAgentInformation, out var d) && Options.RelayAgentInformation.TryRead(d, out var info) ? info : null;

    private void SetOrRemove(DhcpOptionCode code, byte[]? data)
    {
        if (data is null)
        {
            Remove(code);
        }
        else
        {
            Set(code, data);
        }
    }
}
