using FsCheck;
using FsCheck.Xunit;
using Kldload.Tftp.Protocol;

namespace Kldload.Tftp.Tests.Protocol;

public class TftpCodecTests
{
    [Fact]
    public void RequestTryRead_PlainRrq_ReadsNameAndModeWithoutOptions()
    {
        var bytes = GoldenVector.Load("rrq-plain");
        Assert.True(TftpRequest.TryRead(bytes, out var request, out var error), error);
        Assert.Equal(TftpOpcode.ReadRequest, request.Opcode);
        Assert.Equal("undionly.kpxe", request.FileName);
        Assert.Equal("octet", request.Mode);
        Assert.Empty(request.Options);
        AssertWritesBack(bytes, request.TryWrite);
    }

    [Fact]
    public void RequestTryRead_CurlRrq_ReadsOptionsInOrder()
    {
        var bytes = GoldenVector.Load("rrq-options");
        Assert.True(TftpRequest.TryRead(bytes, out var request, out var error), error);
        Assert.Equal("/ipxe.efi", request.FileName);
        Assert.Equal(
            [new TftpOption("tsize", "0"), new TftpOption("blksize", "1468"), new TftpOption("timeout", "6")],
            request.Options);
        Assert.Equal("1468", request.Option("BLKSIZE"));
        Assert.Null(request.Option("windowsize"));
        AssertWritesBack(bytes, request.TryWrite);
    }

    [Fact]
    public void RequestTryRead_Wrq_ReadsWriteOpcode()
    {
        var bytes = GoldenVector.Load("wrq");
        Assert.True(TftpRequest.TryRead(bytes, out var request, out var error), error);
        Assert.Equal(TftpOpcode.WriteRequest, request.Opcode);
        Assert.Equal("upload.txt", request.FileName);
        Assert.Equal("netascii", request.Mode);
        AssertWritesBack(bytes, request.TryWrite);
    }

    [Fact]
    public void DataTryRead_Golden_ReadsBlockAndPayload()
    {
        var bytes = GoldenVector.Load("data");
        Assert.True(TftpData.TryRead(bytes, out var data, out var error), error);
        Assert.Equal(0x1234, data.Block);
        Assert.Equal("hello"u8.ToArray(), data.Payload.ToArray());
        var buffer = new byte[64];
        Assert.True(data.TryWrite(buffer, out var written));
        Assert.Equal(bytes, buffer[..written]);
    }

    [Fact]
    public void DataTryRead_EmptyPayload_IsValidLastBlock()
    {
        var bytes = GoldenVector.Load("data-empty");
        Assert.True(TftpData.TryRead(bytes, out var data, out _));
        Assert.Equal(65535, data.Block);
        Assert.True(data.Payload.IsEmpty);
    }

    [Fact]
    public void AckTryRead_Golden_ReadsBlock()
    {
        var bytes = GoldenVector.Load("ack");
        Assert.True(TftpAck.TryRead(bytes, out var ack, out var error), error);
        Assert.Equal(new TftpAck(0xbeef), ack);
        AssertWritesBack(bytes, ack.TryWrite);
    }

    [Fact]
    public void ErrorTryRead_Golden_ReadsCodeAndMessage()
    {
        var bytes = GoldenVector.Load("error");
        Assert.True(TftpError.TryRead(bytes, out var tftpError, out var error), error);
        Assert.Equal(new TftpError(TftpErrorCode.FileNotFound, "File not found"), tftpError);
        AssertWritesBack(bytes, tftpError.TryWrite);
    }

    [Fact]
    public void OptionAckTryRead_Golden_ReadsOptions()
    {
        var bytes = GoldenVector.Load("oack");
        Assert.True(TftpOptionAck.TryRead(bytes, out var oack, out var error), error);
        Assert.Equal(
            [new TftpOption("blksize", "1468"), new TftpOption("tsize", "1048576"), new TftpOption("windowsize", "8")],
            oack.Options);
        AssertWritesBack(bytes, oack.TryWrite);
    }

    [Theory]
    [InlineData("rrq-plain")]
    [InlineData("rrq-options")]
    [InlineData("wrq")]
    [InlineData("data")]
    [InlineData("ack")]
    [InlineData("error")]
    [InlineData("oack")]
    public void TryRead_EveryTruncation_FailsCleanly(string name)
    {
        var bytes = GoldenVector.Load(name);
        for (var length = 0; length < bytes.Length; length++)
        {
            var truncated = bytes.AsSpan(0, length);
            var accepted = Parse(name, truncated);

            // A truncation may only succeed where the shorter packet is itself complete: DATA with a
            // shorter payload, or a request/OACK cut exactly after a whole option pair.
            if (accepted)
            {
                Assert.True(name is "data" || (truncated.Length > 0 && truncated[^1] == 0 && name is "rrq-options" or "oack"), $"{name} accepted at length {length}");
            }
        }
    }

    [Theory]
    [InlineData("rrq-options")]
    [InlineData("oack")]
    public void TryRead_TruncatedInsideOptionPair_Fails(string name)
    {
        var bytes = GoldenVector.Load(name);

        // Drop the last value and its NUL: a name without a value.
        var cut = bytes.AsSpan(0, bytes.Length - 1).LastIndexOf((byte)0) + 1;
        Assert.False(Parse(name, bytes.AsSpan(0, cut)));
    }

    [Fact]
    public void RequestTryRead_WrongOpcodes_Fail()
    {
        Assert.False(TftpRequest.TryRead(GoldenVector.Load("ack"), out _, out var error));
        Assert.NotNull(error);
        Assert.False(TftpRequest.TryRead("\0\u0001\0octet\0"u8, out _, out error));
        Assert.Equal("empty filename", error);
    }

    [Fact]
    public void TryWrite_DestinationTooSmall_ReturnsFalse()
    {
        var error = new TftpError(TftpErrorCode.AccessViolation, "no");
        Assert.False(error.TryWrite(new byte[6], out _));
        Assert.False(new TftpAck(1).TryWrite(new byte[3], out _));
        Assert.False(new TftpRequest(TftpOpcode.ReadRequest, "a", "octet", []).TryWrite(new byte[8], out _));
    }

    [Fact]
    public void PacketTryReadOpcode_UnknownOrShort_ReturnsFalse()
    {
        Assert.False(TftpPacket.TryReadOpcode([0], out _));
        Assert.False(TftpPacket.TryReadOpcode([0, 7], out _));
        Assert.True(TftpPacket.TryReadOpcode([0, 4, 0, 0], out var op));
        Assert.Equal(TftpOpcode.Ack, op);
    }

    [Property(MaxTest = 2000)]
    public void TryRead_RandomBytes_NeverThrows(byte[] bytes)
    {
        foreach (var name in new[] { "rrq-plain", "data", "ack", "error", "oack" })
        {
            Parse(name, bytes);
        }
    }

    [Property(MaxTest = 2000)]
    public void TryRead_GoldenWithRandomByteFlipped_NeverThrows(NonNegativeInt position, byte value)
    {
        foreach (var name in new[] { "rrq-options", "wrq", "data", "ack", "error", "oack" })
        {
            var bytes = GoldenVector.Load(name);
            bytes[position.Get % bytes.Length] = value;
            Parse(name, bytes);
        }
    }

    private static bool Parse(string name, ReadOnlySpan<byte> bytes) => name switch
    {
        "rrq-plain" or "rrq-options" or "wrq" => TftpRequest.TryRead(bytes, out _, out _),
        "data" => TftpData.TryRead(bytes, out _, out _),
        "ack" => TftpAck.TryRead(bytes, out _, out _),
        "error" => TftpError.TryRead(bytes, out _, out _),
        "oack" => TftpOptionAck.TryRead(bytes, out _, out _),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private delegate bool Writer(Span<byte> destination, out int written);

    private static void AssertWritesBack(byte[] expected, Writer write)
    {
        var buffer = new byte[expected.Length + 16];
        Assert.True(write(buffer, out var written));
        Assert.Equal(expected, buffer[..written]);
    }
}
