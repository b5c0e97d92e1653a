using System.Buffers.Binary;
using System.Text;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Leases;

/// <summary>
/// Writes records the way kldload wrote journals before format version 2 (no header, one-byte field
/// lengths, 255 = absent, and any value of 255 bytes or more written as absent), to test the upgrade.
/// </summary>
internal static class JournalVersion1
{
    public static byte[] Write(params DhcpLease[] leases)
    {
        var output = new MemoryStream();
        foreach (var lease in leases)
        {
            output.Write(Record(lease));
        }

        return output.ToArray();
    }

    public static byte[] Record(DhcpLease lease)
    {
        var payload = new MemoryStream();
        Span<byte> fixedPart = stackalloc byte[17];
        lease.Address.Write(fixedPart);
        fixedPart[4] = (byte)lease.State;
        BinaryPrimitives.WriteInt64BigEndian(fixedPart[5..], lease.Expires.ToUnixTimeMilliseconds());
        lease.RelayAddress.Write(fixedPart[13..]);
        payload.Write(fixedPart);
        Field(payload, Encoding.UTF8.GetBytes(lease.ClientId));
        Field(payload, Encoding.UTF8.GetBytes(lease.HardwareAddress));
        Field(payload, lease.HostName is null ? null : Encoding.UTF8.GetBytes(lease.HostName));
        Field(payload, lease.RelayAgentInformation);
        return Frame(payload.ToArray());
    }

    /// <summary>Length, payload, CRC-32 of the payload: a record with any payload and a valid checksum.</summary>
    public static byte[] Frame(byte[] payload)
    {
        var record = new byte[2 + payload.Length + 4];
        BinaryPrimitives.WriteUInt16BigEndian(record, (ushort)payload.Length);
        payload.CopyTo(record, 2);
        BinaryPrimitives.WriteUInt32BigEndian(record.AsSpan(2 + payload.Length), LeaseRecordCodec.Crc32(payload));
        return record;
    }

    private static void Field(MemoryStream payload, byte[]? value)
    {
        if (value is null || value.Length >= 255)
        {
            payload.WriteByte(255);
            return;
        }

        payload.WriteByte((byte)value.Length);
        payload.Write(value);
    }
}
