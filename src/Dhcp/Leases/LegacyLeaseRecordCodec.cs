using System.Buffers.Binary;
using System.Text;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Leases;

/// <summary>
/// Reads records of a version 1 journal (written before the file header existed), so a journal left
/// by an older kldload is replayed on upgrade and then rewritten in the current format. Never written.
/// <code>
/// +---------+-----------------------------------------------------------------------+---------+
/// | len (2) | address(4) state(1) expires-ms(8) relay(4) id(1+n) hw(1+n) host(1+n) 82(1+n) | crc (4) |
/// +---------+-----------------------------------------------------------------------+---------+
/// </code>
/// A field length of 255 meant "absent", and the version 1 writer also used it for any value of 255
/// bytes or more: a client id that long was lost when it was written. Such a record is still read
/// (it holds the address, MAC and expiry), with a client id no client can present
/// (<see cref="LostClientIdPrefix"/> + MAC), so the address stays held until it expires.
/// </summary>
internal static class LegacyLeaseRecordCodec
{
    /// <summary>The client id given to a version 1 record whose client id was too long to be written.</summary>
    public const string LostClientIdPrefix = "lost-id:";

    /// <summary>The longest record the version 1 writer produced (four fields of at most 254 bytes).</summary>
    public const int MaxPayloadLength = 4 + 1 + 8 + 4 + (4 * 255);

    private const int FixedLength = 17;
    private const byte Absent = 255;

    public static LeaseRecordStatus TryRead(ReadOnlySpan<byte> source, out DhcpLease lease, out int consumed, out string? rejection)
    {
        lease = null!;
        consumed = 0;
        rejection = null;
        if (source.Length < 2)
        {
            return LeaseRecordStatus.Torn;
        }

        var len = BinaryPrimitives.ReadUInt16BigEndian(source);
        if (len > MaxPayloadLength || source.Length < 2 + len + 4)
        {
            return LeaseRecordStatus.Torn;
        }

        var payload = source.Slice(2, len);
        if (BinaryPrimitives.ReadUInt32BigEndian(source[(2 + len)..]) != LeaseRecordCodec.Crc32(payload))
        {
            return LeaseRecordStatus.Torn;
        }

        if (len < FixedLength)
        {
            // Version 1 checksummed only the payload, so an empty payload with a zero checksum field is
            // not a record but zero bytes (CRC-32 of nothing is 0): a torn tail.
            if (len == 0)
            {
                return LeaseRecordStatus.Torn;
            }

            rejection = $"payload of {len} bytes is shorter than {FixedLength}";
            return LeaseRecordStatus.Rejected;
        }

        var state = (DhcpLeaseState)payload[4];
        var expires = BinaryPrimitives.ReadInt64BigEndian(payload[5..]);
        if (!Enum.IsDefined(state))
        {
            rejection = $"state {(byte)state} is not a lease state";
            return LeaseRecordStatus.Rejected;
        }

        if (expires < DateTimeOffset.MinValue.ToUnixTimeMilliseconds() || expires > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            rejection = $"expiry {expires} ms is outside the representable range";
            return LeaseRecordStatus.Rejected;
        }

        var i = FixedLength;
        if (!TryReadField(payload, ref i, out var id) || !TryReadField(payload, ref i, out var hw)
            || !TryReadField(payload, ref i, out var host) || !TryReadField(payload, ref i, out var info))
        {
            rejection = "a field runs past the end of the record";
            return LeaseRecordStatus.Rejected;
        }

        if (hw is null)
        {
            rejection = "no hardware address";
            return LeaseRecordStatus.Rejected;
        }

        var mac = Encoding.UTF8.GetString(hw);
        lease = new DhcpLease
        {
            Address = Ipv4Address.Read(payload),
            State = state,
            Expires = DateTimeOffset.FromUnixTimeMilliseconds(expires),
            RelayAddress = Ipv4Address.Read(payload[13..]),
            ClientId = id is null ? LostClientIdPrefix + mac : Encoding.UTF8.GetString(id),
            HardwareAddress = mac,
            HostName = host is null ? null : Encoding.UTF8.GetString(host),
            RelayAgentInformation = info,
        };
        consumed = 2 + len + 4;
        return LeaseRecordStatus.Complete;
    }

    private static bool TryReadField(ReadOnlySpan<byte> payload, ref int i, out byte[]? value)
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
}
