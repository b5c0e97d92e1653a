using System.Buffers.Binary;
using System.Text;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Leases;

/// <summary>
/// The binary form of one lease in the journal. Length-prefixed and checksummed so a record torn by a
/// crash mid-write is recognised and ignored on replay.
/// <code>
/// +---------+-----------------------------------------------------------------------+---------+
/// | len (2) | address(4) state(1) expires-ms(8) relay(4) id(1+n) hw(1+n) host(1+n) 82(1+n) | crc (4) |
/// +---------+-----------------------------------------------------------------------+---------+
/// </code>
/// String and option 82 lengths of 255 mean "absent" (null).
/// </summary>
internal static class LeaseRecordCodec
{
    public const int MaxRecordLength = 2 + 4 + 1 + 8 + 4 + (4 * 256) + 4;

    private const byte Absent = 255;

    private static readonly uint[] CrcTable = BuildCrcTable();

    public static int Write(DhcpLease lease, Span<byte> destination)
    {
        var i = 2;
        lease.Address.Write(destination[i..]);
        i += 4;
        destination[i++] = (byte)lease.State;
        BinaryPrimitives.WriteInt64BigEndian(destination[i..], lease.Expires.ToUnixTimeMilliseconds());
        i += 8;
        lease.RelayAddress.Write(destination[i..]);
        i += 4;
        i += WriteBytes(destination[i..], Encoding.UTF8.GetBytes(lease.ClientId));
        i += WriteBytes(destination[i..], Encoding.UTF8.GetBytes(lease.HardwareAddress));
        i += WriteBytes(destination[i..], lease.HostName is null ? null : Encoding.UTF8.GetBytes(lease.HostName));
        i += WriteBytes(destination[i..], lease.RelayAgentInformation);
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(i - 2));
        BinaryPrimitives.WriteUInt32BigEndian(destination[i..], Crc32(destination[2..i]));
        return i + 4;
    }

    /// <summary>Reads one record; false at a torn or corrupt record (replay stops there).</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out DhcpLease lease, out int consumed)
    {
        lease = null!;
        consumed = 0;
        if (source.Length < 2)
        {
            return false;
        }

        var len = BinaryPrimitives.ReadUInt16BigEndian(source);
        if (len < 17 || source.Length < 2 + len + 4)
        {
            return false;
        }

        var payload = source.Slice(2, len);
        if (BinaryPrimitives.ReadUInt32BigEndian(source[(2 + len)..]) != Crc32(payload))
        {
            return false;
        }

        var i = 0;
        var address = Ipv4Address.Read(payload);
        i += 4;
        var state = (DhcpLeaseState)payload[i++];
        var expires = BinaryPrimitives.ReadInt64BigEndian(payload[i..]);
        i += 8;
        var relay = Ipv4Address.Read(payload[i..]);
        i += 4;
        if (!TryReadBytes(payload, ref i, out var id) || !TryReadBytes(payload, ref i, out var hw)
            || !TryReadBytes(payload, ref i, out var host) || !TryReadBytes(payload, ref i, out var info)
            || id is null || hw is null || state is < DhcpLeaseState.Active or > DhcpLeaseState.Declined)
        {
            return false;
        }

        lease = new DhcpLease
        {
            Address = address,
            State = state,
            Expires = DateTimeOffset.FromUnixTimeMilliseconds(expires),
            RelayAddress = relay,
            ClientId = Encoding.UTF8.GetString(id),
            HardwareAddress = Encoding.UTF8.GetString(hw),
            HostName = host is null ? null : Encoding.UTF8.GetString(host),
            RelayAgentInformation = info,
        };
        consumed = 2 + len + 4;
        return true;
    }

    private static int WriteBytes(Span<byte> destination, byte[]? value)
    {
        if (value is null || value.Length >= Absent)
        {
            destination[0] = Absent;
            return 1;
        }

        destination[0] = (byte)value.Length;
        value.CopyTo(destination[1..]);
        return 1 + value.Length;
    }

    private static bool TryReadBytes(ReadOnlySpan<byte> payload, ref int i, out byte[]? value)
    {
        value = null;
        if (i >= payload.Length)
        {
            return false;
        }

        var len = payload[i++];
        if (len == Absent)
        {
            return true;
        }

        if (i + len > payload.Length)
        {
            return false;
        }

        value = payload.Slice(i, len).ToArray();
        i += len;
        return true;
    }

    /// <summary>CRC-32 (IEEE 802.3 polynomial, reflected), enough to catch a torn write.</summary>
    internal static uint Crc32(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
