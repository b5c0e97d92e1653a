using System.Buffers.Binary;
using System.Text;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Leases;

/// <summary>What <see cref="LeaseRecordCodec.TryRead"/> found at an offset of the journal.</summary>
internal enum LeaseRecordStatus : byte
{
    /// <summary>A whole record with a valid checksum and content the reader accepts.</summary>
    Complete = 0,

    /// <summary>
    /// Too short for its length, or its checksum does not match: a record torn by a crash mid-write.
    /// Its batch was never acknowledged (the ACKs wait for the fsync), so replay may cut it off.
    /// </summary>
    Torn,

    /// <summary>
    /// The checksum is valid but the content is not a lease this reader accepts. This is not a torn
    /// write: replay must stop with an error instead of truncating (records after it were acknowledged).
    /// </summary>
    Rejected,
}

/// <summary>
/// The binary form of one lease in a version 2 journal (<see cref="LeaseJournal"/>). Every variable
/// field has a 16-bit length, wide enough for any value a client can send in one option (at most 255
/// bytes, or 510 characters as hex), so no lease is ever written in a form replay cannot read back.
/// <code>
/// +---------+---------------------------------------------------------------+---------+
/// | len (4) | address(4) state(1) expires-ms(8) relay(4) flags(1)           | crc (4) |
/// |         | client-id(2+n) hw(2+n) host(2+n) option-82(2+n)               |         |
/// +---------+---------------------------------------------------------------+---------+
/// </code>
/// All integers big-endian. <c>len</c> counts the payload between it and the checksum; the checksum
/// is CRC-32 over <c>len</c> and the payload (so a run of zero bytes is never a valid record). Strings
/// are UTF-8. <c>flags</c> bit 0: host name present; bit 1: option 82 present (an absent field is
/// written with length 0). Client id and hardware address are always present.
/// </summary>
internal static class LeaseRecordCodec
{
    /// <summary>Bytes before the payload (the length).</summary>
    public const int LengthSize = 4;

    /// <summary>Bytes after the payload (the checksum).</summary>
    public const int ChecksumSize = 4;

    /// <summary>The longest value one field can hold.</summary>
    public const int MaxFieldLength = ushort.MaxValue;

    private const int AddressOffset = 0;
    private const int StateOffset = 4;
    private const int ExpiresOffset = 5;
    private const int RelayOffset = 13;
    private const int FlagsOffset = 17;
    private const int FieldsOffset = 18;
    private const int FieldCount = 4;

    /// <summary>The shortest payload: fixed part and four empty fields.</summary>
    public const int MinPayloadLength = FieldsOffset + (FieldCount * 2);

    /// <summary>The longest payload: fixed part and four full fields.</summary>
    public const int MaxPayloadLength = FieldsOffset + (FieldCount * (2 + MaxFieldLength));

    private const byte HostNamePresent = 0x01;
    private const byte RelayInformationPresent = 0x02;
    private const byte KnownFlags = HostNamePresent | RelayInformationPresent;

    private static readonly uint[] CrcTable = BuildCrcTable();

    private static readonly long MinExpiresMs = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
    private static readonly long MaxExpiresMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    /// <summary>Strict UTF-8: a string with a lone surrogate, or bytes that are not UTF-8, fail instead of being replaced.</summary>
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The bytes <see cref="Write"/> needs for <paramref name="lease"/>; false (with the reason) when a
    /// field is longer than <see cref="MaxFieldLength"/> bytes or is not valid UTF-16.
    /// </summary>
    public static bool TryMeasure(DhcpLease lease, out int length, out string? error)
    {
        ArgumentNullException.ThrowIfNull(lease);
        length = 0;
        if (!TryByteCount(lease.ClientId, "client id", out var id, out error)
            || !TryByteCount(lease.HardwareAddress, "hardware address", out var hw, out error)
            || !TryByteCount(lease.HostName, "host name", out var host, out error))
        {
            return false;
        }

        var info = lease.RelayAgentInformation?.Length ?? 0;
        if (info > MaxFieldLength)
        {
            error = $"option 82 of {info} bytes is longer than {MaxFieldLength}";
            return false;
        }

        if (!Enum.IsDefined(lease.State))
        {
            error = $"state {(byte)lease.State} is not a lease state";
            return false;
        }

        length = LengthSize + FieldsOffset + (FieldCount * 2) + id + hw + host + info + ChecksumSize;
        return true;
    }

    /// <summary>
    /// Writes one record; <paramref name="destination"/> must hold the length <see cref="TryMeasure"/>
    /// returned (which also checked that the lease can be written). Returns the bytes written.
    /// </summary>
    public static int Write(DhcpLease lease, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var payload = destination[LengthSize..];
        lease.Address.Write(payload[AddressOffset..]);
        payload[StateOffset] = (byte)lease.State;
        BinaryPrimitives.WriteInt64BigEndian(payload[ExpiresOffset..], lease.Expires.ToUnixTimeMilliseconds());
        lease.RelayAddress.Write(payload[RelayOffset..]);
        payload[FlagsOffset] = (byte)((lease.HostName is null ? 0 : HostNamePresent) | (lease.RelayAgentInformation is null ? 0 : RelayInformationPresent));
        var i = FieldsOffset;
        i += WriteString(payload[i..], lease.ClientId);
        i += WriteString(payload[i..], lease.HardwareAddress);
        i += WriteString(payload[i..], lease.HostName);
        i += WriteBytes(payload[i..], lease.RelayAgentInformation);
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)i);
        var end = LengthSize + i;
        BinaryPrimitives.WriteUInt32BigEndian(destination[end..], Crc32(destination[..end]));
        return end + ChecksumSize;
    }

    /// <summary>
    /// Reads the record at the start of <paramref name="source"/>. <see cref="LeaseRecordStatus.Complete"/>
    /// gives the lease and the bytes consumed; <see cref="LeaseRecordStatus.Rejected"/> says why in
    /// <paramref name="rejection"/>. Never throws.
    /// </summary>
    public static LeaseRecordStatus TryRead(ReadOnlySpan<byte> source, out DhcpLease lease, out int consumed, out string? rejection)
    {
        lease = null!;
        consumed = 0;
        rejection = null;
        if (source.Length < LengthSize)
        {
            return LeaseRecordStatus.Torn;
        }

        var len = BinaryPrimitives.ReadUInt32BigEndian(source);
        if (len > MaxPayloadLength || source.Length - LengthSize - ChecksumSize < len)
        {
            return LeaseRecordStatus.Torn;
        }

        var end = LengthSize + (int)len;
        if (BinaryPrimitives.ReadUInt32BigEndian(source[end..]) != Crc32(source[..end]))
        {
            return LeaseRecordStatus.Torn;
        }

        // From here the bytes are exactly what a writer wrote: anything unreadable is a rejection.
        var payload = source[LengthSize..end];
        if (payload.Length < MinPayloadLength)
        {
            rejection = $"payload of {payload.Length} bytes is shorter than {MinPayloadLength}";
            return LeaseRecordStatus.Rejected;
        }

        var state = (DhcpLeaseState)payload[StateOffset];
        var expires = BinaryPrimitives.ReadInt64BigEndian(payload[ExpiresOffset..]);
        var flags = payload[FlagsOffset];
        if (!Enum.IsDefined(state))
        {
            rejection = $"state {(byte)state} is not a lease state";
            return LeaseRecordStatus.Rejected;
        }

        if (expires < MinExpiresMs || expires > MaxExpiresMs)
        {
            rejection = $"expiry {expires} ms is outside the representable range";
            return LeaseRecordStatus.Rejected;
        }

        if ((flags & ~KnownFlags) != 0)
        {
            rejection = $"unknown flags 0x{flags:x2}";
            return LeaseRecordStatus.Rejected;
        }

        var i = FieldsOffset;
        if (!TryReadField(payload, ref i, out var id) || !TryReadField(payload, ref i, out var hw)
            || !TryReadField(payload, ref i, out var host) || !TryReadField(payload, ref i, out var info))
        {
            rejection = "a field runs past the end of the record";
            return LeaseRecordStatus.Rejected;
        }

        if (i != payload.Length)
        {
            rejection = $"{payload.Length - i} bytes follow the last field";
            return LeaseRecordStatus.Rejected;
        }

        if ((flags & HostNamePresent) == 0 && host.Length > 0)
        {
            rejection = "a host name is written but flagged absent";
            return LeaseRecordStatus.Rejected;
        }

        if ((flags & RelayInformationPresent) == 0 && info.Length > 0)
        {
            rejection = "option 82 is written but flagged absent";
            return LeaseRecordStatus.Rejected;
        }

        if (!TryDecode(id, out var clientId) || !TryDecode(hw, out var hardwareAddress) || !TryDecode(host, out var hostName))
        {
            rejection = "a text field is not UTF-8";
            return LeaseRecordStatus.Rejected;
        }

        lease = new DhcpLease
        {
            Address = Ipv4Address.Read(payload[AddressOffset..]),
            State = state,
            Expires = DateTimeOffset.FromUnixTimeMilliseconds(expires),
            RelayAddress = Ipv4Address.Read(payload[RelayOffset..]),
            ClientId = clientId,
            HardwareAddress = hardwareAddress,
            HostName = (flags & HostNamePresent) != 0 ? hostName : null,
            RelayAgentInformation = (flags & RelayInformationPresent) != 0 ? info.ToArray() : null,
        };
        consumed = end + ChecksumSize;
        return LeaseRecordStatus.Complete;
    }

    private static bool TryByteCount(string? value, string name, out int count, out string? error)
    {
        count = 0;
        error = null;
        if (value is null)
        {
            return true;
        }

        try
        {
            count = Utf8.GetByteCount(value);
        }
        catch (EncoderFallbackException)
        {
            error = $"the {name} is not valid UTF-16";
            return false;
        }

        if (count > MaxFieldLength)
        {
            error = $"the {name} of {count} bytes is longer than {MaxFieldLength}";
            return false;
        }

        return true;
    }

    private static int WriteString(Span<byte> destination, string? value)
    {
        var n = value is null ? 0 : Utf8.GetBytes(value, destination[2..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)n);
        return 2 + n;
    }

    private static int WriteBytes(Span<byte> destination, byte[]? value)
    {
        var n = value?.Length ?? 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)n);
        value?.CopyTo(destination[2..]);
        return 2 + n;
    }

    private static bool TryReadField(ReadOnlySpan<byte> payload, ref int i, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (payload.Length - i < 2)
        {
            return false;
        }

        var n = BinaryPrimitives.ReadUInt16BigEndian(payload[i..]);
        if (payload.Length - i - 2 < n)
        {
            return false;
        }

        value = payload.Slice(i + 2, n);
        i += 2 + n;
        return true;
    }

    private static bool TryDecode(ReadOnlySpan<byte> bytes, out string text)
    {
        try
        {
            text = Utf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = string.Empty;
            return false;
        }
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
