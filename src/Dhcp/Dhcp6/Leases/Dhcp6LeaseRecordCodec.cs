using System.Buffers.Binary;
using System.Net;
using System.Text;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Dhcp6.Leases;

/// <summary>
/// The binary form of one DHCPv6 lease in the journal (<see cref="Dhcp6LeaseJournalStore"/>). Same
/// framing and torn-write rules as the DHCPv4 journal (<see cref="LeaseRecordStatus"/>).
/// <code>
/// +---------+----------------------------------------------------------------------+---------+
/// | len (4) | address(16) state(1) expires-ms(8) iaid(4) flags(1) relay-link(16)     | crc (4) |
/// |         | duid(2+n) hw(2+n) interface-id(2+n) remote-id(2+n)                   |         |
/// +---------+----------------------------------------------------------------------+---------+
/// </code>
/// Integers big-endian; the CRC-32 covers <c>len</c> and the payload. <c>flags</c> bit 0: relay-link
/// present (16 zero bytes otherwise); bit 1: interface-id present; bit 2: remote-id present.
/// </summary>
internal static class Dhcp6LeaseRecordCodec
{
    private const int AddressOffset = 0;
    private const int StateOffset = 16;
    private const int ExpiresOffset = 17;
    private const int IaidOffset = 25;
    private const int FlagsOffset = 29;
    private const int RelayLinkOffset = 30;
    private const int FieldsOffset = 46;
    private const int FieldCount = 4;
    private const int MinPayloadLength = FieldsOffset + (FieldCount * 2);

    private const byte RelayLinkPresent = 0x01;
    private const byte InterfaceIdPresent = 0x02;
    private const byte RemoteIdPresent = 0x04;
    private const byte KnownFlags = RelayLinkPresent | InterfaceIdPresent | RemoteIdPresent;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The bytes <see cref="Write"/> needs; false when a field is longer than 65535 bytes.</summary>
    public static bool TryMeasure(Dhcp6Lease lease, out int length)
    {
        var fields = new[] { Utf8.GetByteCount(lease.ClientDuid), Utf8.GetByteCount(lease.HardwareAddress), lease.InterfaceId?.Length ?? 0, lease.RemoteId?.Length ?? 0 };
        length = LeaseRecordCodec.LengthSize + FieldsOffset + fields.Sum(f => 2 + f) + LeaseRecordCodec.ChecksumSize;
        return fields.All(f => f <= ushort.MaxValue);
    }

    public static int Write(Dhcp6Lease lease, Span<byte> destination)
    {
        TryMeasure(lease, out var length);
        var payload = destination[LeaseRecordCodec.LengthSize..];
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)(length - LeaseRecordCodec.LengthSize - LeaseRecordCodec.ChecksumSize));
        lease.Address.TryWriteBytes(payload.Slice(AddressOffset, 16), out _);
        payload[StateOffset] = (byte)lease.State;
        BinaryPrimitives.WriteInt64BigEndian(payload[ExpiresOffset..], lease.Expires.ToUnixTimeMilliseconds());
        BinaryPrimitives.WriteUInt32BigEndian(payload[IaidOffset..], lease.Iaid);
        byte flags = 0;
        payload.Slice(RelayLinkOffset, 16).Clear();
        if (lease.RelayLinkAddress is { } link)
        {
            flags |= RelayLinkPresent;
            link.TryWriteBytes(payload.Slice(RelayLinkOffset, 16), out _);
        }

        flags |= lease.InterfaceId is null ? (byte)0 : InterfaceIdPresent;
        flags |= lease.RemoteId is null ? (byte)0 : RemoteIdPresent;
        payload[FlagsOffset] = flags;
        var offset = FieldsOffset;
        offset += WriteField(payload[offset..], Utf8.GetBytes(lease.ClientDuid));
        offset += WriteField(payload[offset..], Utf8.GetBytes(lease.HardwareAddress));
        offset += WriteField(payload[offset..], lease.InterfaceId ?? []);
        offset += WriteField(payload[offset..], lease.RemoteId ?? []);
        var end = LeaseRecordCodec.LengthSize + offset;
        BinaryPrimitives.WriteUInt32BigEndian(destination[end..], LeaseRecordCodec.Crc32(destination[..end]));
        return end + LeaseRecordCodec.ChecksumSize;
    }

    public static LeaseRecordStatus TryRead(ReadOnlySpan<byte> source, out Dhcp6Lease? lease, out int consumed, out string rejection)
    {
        lease = null;
        consumed = 0;
        rejection = string.Empty;
        if (source.Length < LeaseRecordCodec.LengthSize)
        {
            return LeaseRecordStatus.Torn;
        }

        var payloadLength = BinaryPrimitives.ReadUInt32BigEndian(source);
        if (payloadLength > (uint)(source.Length - LeaseRecordCodec.LengthSize - LeaseRecordCodec.ChecksumSize) || source.Length < LeaseRecordCodec.LengthSize + LeaseRecordCodec.ChecksumSize)
        {
            return LeaseRecordStatus.Torn;
        }

        var end = LeaseRecordCodec.LengthSize + (int)payloadLength;
        if (BinaryPrimitives.ReadUInt32BigEndian(source[end..]) != LeaseRecordCodec.Crc32(source[..end]))
        {
            return LeaseRecordStatus.Torn;
        }

        consumed = end + LeaseRecordCodec.ChecksumSize;
        var payload = source[LeaseRecordCodec.LengthSize..end];
        if (payload.Length < MinPayloadLength)
        {
            rejection = $"the payload is {payload.Length} bytes, shorter than {MinPayloadLength}";
            return LeaseRecordStatus.Rejected;
        }

        var state = (DhcpLeaseState)payload[StateOffset];
        var flags = payload[FlagsOffset];
        if (!Enum.IsDefined(state) || (flags & ~KnownFlags) != 0)
        {
            rejection = $"state {payload[StateOffset]} or flags 0x{flags:x2} are not known";
            return LeaseRecordStatus.Rejected;
        }

        var expiresMs = BinaryPrimitives.ReadInt64BigEndian(payload[ExpiresOffset..]);
        if (expiresMs < DateTimeOffset.MinValue.ToUnixTimeMilliseconds() || expiresMs > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            rejection = $"expiry {expiresMs} ms is out of range";
            return LeaseRecordStatus.Rejected;
        }

        var offset = FieldsOffset;
        var fields = new byte[FieldCount][];
        for (var i = 0; i < FieldCount; i++)
        {
            if (payload.Length - offset < 2 || payload.Length - offset - 2 < BinaryPrimitives.ReadUInt16BigEndian(payload[offset..]))
            {
                rejection = $"field {i} runs past the record";
                return LeaseRecordStatus.Rejected;
            }

            var n = BinaryPrimitives.ReadUInt16BigEndian(payload[offset..]);
            fields[i] = payload.Slice(offset + 2, n).ToArray();
            offset += 2 + n;
        }

        if (offset != payload.Length)
        {
            rejection = "bytes follow the last field";
            return LeaseRecordStatus.Rejected;
        }

        string duid;
        string hardware;
        try
        {
            duid = Utf8.GetString(fields[0]);
            hardware = Utf8.GetString(fields[1]);
        }
        catch (DecoderFallbackException)
        {
            rejection = "a text field is not UTF-8";
            return LeaseRecordStatus.Rejected;
        }

        lease = new Dhcp6Lease
        {
            Address = new IPAddress(payload.Slice(AddressOffset, 16)),
            State = state,
            Expires = DateTimeOffset.FromUnixTimeMilliseconds(expiresMs),
            Iaid = BinaryPrimitives.ReadUInt32BigEndian(payload[IaidOffset..]),
            RelayLinkAddress = (flags & RelayLinkPresent) != 0 ? new IPAddress(payload.Slice(RelayLinkOffset, 16)) : null,
            ClientDuid = duid,
            HardwareAddress = hardware,
            InterfaceId = (flags & InterfaceIdPresent) != 0 ? fields[2] : null,
            RemoteId = (flags & RemoteIdPresent) != 0 ? fields[3] : null,
        };
        return LeaseRecordStatus.Complete;
    }

    private static int WriteField(Span<byte> destination, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)value.Length);
        value.CopyTo(destination[2..]);
        return 2 + value.Length;
    }
}
