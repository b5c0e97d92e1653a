using System.Buffers.Binary;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Leases;

public sealed class LeaseRecordCodecTests
{
    private static readonly DhcpLease Sample = new()
    {
        Address = Ipv4Address.Parse("10.0.0.100"),
        ClientId = "id:01525400000001",
        HardwareAddress = "52:54:00:00:00:01",
        State = DhcpLeaseState.Active,
        Expires = DateTimeOffset.FromUnixTimeMilliseconds(0x0102030405),
        HostName = "n1",
        RelayAgentInformation = [1, 1, 7],
        RelayAddress = Ipv4Address.Parse("10.1.0.1"),
    };

    /// <summary>The version 2 record of <see cref="Sample"/>, laid out by hand from the format's documentation.</summary>
    private static readonly byte[] SampleRecord = Convert.FromHexString(
        "00000041"                                 // payload length 65
        + "0A000064" + "01" + "0000000102030405"   // address, state Active, expires ms
        + "0A010001" + "03"                        // relay, flags: host name and option 82 present
        + "0011" + "69643A3031353235343030303030303031" // client id, 17 bytes
        + "0011" + "35323A35343A30303A30303A30303A3031" // hardware address, 17 bytes
        + "0002" + "6E31"                          // host name
        + "0003" + "010107");                      // option 82

    private static byte[] Encode(DhcpLease lease)
    {
        Assert.True(LeaseRecordCodec.TryMeasure(lease, out var length, out var error), error);
        var buffer = new byte[length];
        Assert.Equal(length, LeaseRecordCodec.Write(lease, buffer));
        return buffer;
    }

    private static byte[] WithChecksum(byte[] lengthAndPayload)
    {
        var record = new byte[lengthAndPayload.Length + 4];
        lengthAndPayload.CopyTo(record, 0);
        BinaryPrimitives.WriteUInt32BigEndian(record.AsSpan(lengthAndPayload.Length), LeaseRecordCodec.Crc32(lengthAndPayload));
        return record;
    }

    [Fact]
    public void Write_Sample_MatchesDocumentedLayout()
    {
        Assert.Equal(WithChecksum(SampleRecord), Encode(Sample));
    }

    [Fact]
    public void TryRead_DocumentedLayout_GivesSample()
    {
        var record = WithChecksum(SampleRecord);
        Assert.Equal(LeaseRecordStatus.Complete, LeaseRecordCodec.TryRead(record, out var lease, out var consumed, out _));
        Assert.Equal(record.Length, consumed);
        Assert.Equal(Sample, lease, LeaseComparer.Instance);
    }

    public static TheoryData<int, int, int> FieldSizes => new()
    {
        { 0, 0, 0 },
        { 254, 254, 254 },
        { 255, 255, 255 },
        { 256, 256, 256 },
        { 513, 1000, 4000 },
        { LeaseRecordCodec.MaxFieldLength, LeaseRecordCodec.MaxFieldLength, LeaseRecordCodec.MaxFieldLength },
    };

    [Theory]
    [MemberData(nameof(FieldSizes))]
    public void WriteThenRead_ExtremeFieldSizes_RoundTrip(int clientId, int hostName, int option82)
    {
        var lease = Sample with
        {
            ClientId = new string('c', clientId),
            HostName = new string('h', hostName),
            RelayAgentInformation = Enumerable.Range(0, option82).Select(i => (byte)i).ToArray(),
        };
        var record = Encode(lease);
        Assert.Equal(LeaseRecordStatus.Complete, LeaseRecordCodec.TryRead(record, out var read, out var consumed, out _));
        Assert.Equal(record.Length, consumed);
        Assert.Equal(lease, read, LeaseComparer.Instance);
    }

    [Fact]
    public void WriteThenRead_ClientIdOf255Bytes_KeepsEveryCharacter()
    {
        // The identity the engine derives from a 255-byte option 61: 513 characters.
        var id = "id:" + Convert.ToHexString(Enumerable.Range(0, 255).Select(i => (byte)i).ToArray());
        var record = Encode(Sample with { ClientId = id });
        Assert.Equal(LeaseRecordStatus.Complete, LeaseRecordCodec.TryRead(record, out var read, out _, out _));
        Assert.Equal(id, read.ClientId);
    }

    [Fact]
    public void WriteThenRead_AbsentAndEmptyOptionalFields_StayDistinct()
    {
        foreach (var lease in new[] { Sample with { HostName = null, RelayAgentInformation = null }, Sample with { HostName = string.Empty, RelayAgentInformation = [] } })
        {
            Assert.Equal(LeaseRecordStatus.Complete, LeaseRecordCodec.TryRead(Encode(lease), out var read, out _, out _));
            Assert.Equal(lease, read, LeaseComparer.Instance);
        }
    }

    [Fact]
    public void TryMeasure_FieldLongerThan64KiB_Fails()
    {
        Assert.False(LeaseRecordCodec.TryMeasure(Sample with { HostName = new string('h', LeaseRecordCodec.MaxFieldLength + 1) }, out _, out var error));
        Assert.Contains("host name", error, StringComparison.Ordinal);
        Assert.False(LeaseRecordCodec.TryMeasure(Sample with { RelayAgentInformation = new byte[LeaseRecordCodec.MaxFieldLength + 1] }, out _, out _));
    }

    [Fact]
    public void TryMeasure_LoneSurrogate_Fails()
    {
        Assert.False(LeaseRecordCodec.TryMeasure(Sample with { ClientId = "id:\uD800" }, out _, out var error));
        Assert.Contains("client id", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryRead_EveryTruncation_IsTorn()
    {
        var record = Encode(Sample);
        for (var n = 0; n < record.Length; n++)
        {
            Assert.Equal(LeaseRecordStatus.Torn, LeaseRecordCodec.TryRead(record.AsSpan(0, n), out _, out _, out _));
        }
    }

    [Fact]
    public void TryRead_EveryBitFlip_IsTornNotLeased()
    {
        var record = Encode(Sample);
        for (var bit = 0; bit < record.Length * 8; bit++)
        {
            var damaged = (byte[])record.Clone();
            damaged[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.Equal(LeaseRecordStatus.Torn, LeaseRecordCodec.TryRead(damaged, out _, out _, out _));
        }
    }

    [Fact]
    public void TryRead_ZeroBytes_IsTorn()
    {
        // A crash can leave a zero-filled tail; it must never read as a record with a valid checksum.
        Assert.Equal(LeaseRecordStatus.Torn, LeaseRecordCodec.TryRead(new byte[64], out _, out _, out _));
    }

    public static TheoryData<string, string> BadContent => new()
    {
        // damage to SampleRecord, then a recomputed checksum; the reason the reader gives
        { "state", "is not a lease state" },
        { "flags", "unknown flags" },
        { "trailing", "follow the last field" },
        { "overrun", "runs past the end" },
        { "utf8", "not UTF-8" },
        { "expires", "outside the representable range" },
        { "short", "shorter than" },
    };

    [Theory]
    [MemberData(nameof(BadContent))]
    public void TryRead_ValidChecksumBadContent_IsRejectedWithReason(string damage, string reason)
    {
        var body = (byte[])SampleRecord.Clone();
        switch (damage)
        {
            case "state":
                body[4 + 4] = 9;
                break;
            case "flags":
                body[4 + 17] = 0x83;
                break;
            case "trailing":
                body = [.. body, 0];
                BinaryPrimitives.WriteUInt32BigEndian(body, (uint)(body.Length - 4));
                break;
            case "overrun":
                body[4 + 18 + 1] = 0xFF;
                break;
            case "utf8":
                body[4 + 18 + 2] = 0xC3;
                body[4 + 18 + 3] = 0x28;
                break;
            case "expires":
                BinaryPrimitives.WriteInt64BigEndian(body.AsSpan(4 + 5), long.MaxValue);
                break;
            case "short":
                body = [0, 0, 0, 3, 1, 2, 3];
                break;
        }

        var status = LeaseRecordCodec.TryRead(WithChecksum(body), out _, out _, out var rejection);
        Assert.Equal(LeaseRecordStatus.Rejected, status);
        Assert.Contains(reason, rejection, StringComparison.Ordinal);
    }
}
