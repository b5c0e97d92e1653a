using Kldload.Tftp.Protocol;
using Kldload.Tftp.Transfer;

namespace Kldload.Tftp.Tests.Transfer;

/// <summary>The block ring alone: reading blocks, the end of file, encoded datagrams, resends, slot reuse and 16-bit wraparound.</summary>
public class TftpBlockRingTests
{
    private static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();

    private static (ushort Block, byte[] Payload) Decode(ReadOnlySpan<byte> datagram)
    {
        Assert.True(TftpData.TryRead(datagram, out var data, out _));
        return (data.Block, data.Payload.ToArray());
    }

    [Fact]
    public void ReadNext_ShortLastBlock_EndsThere()
    {
        var content = new MemoryStream(Pattern(10));
        using var ring = new TftpBlockRing(blockSize: 4, capacity: 4);

        Assert.False(ring.ReadNext(content));
        Assert.False(ring.ReadNext(content));
        Assert.True(ring.ReadNext(content));

        Assert.Equal(3L, ring.LastBlock);
        Assert.Equal(3L, ring.Read);
        Assert.Equal(new[] { 4, 4, 2 }, new[] { ring.PayloadLength(1), ring.PayloadLength(2), ring.PayloadLength(3) });
    }

    [Fact]
    public void ReadNext_ExactMultipleOfBlockSize_EndsWithAnEmptyBlock()
    {
        var content = new MemoryStream(Pattern(8));
        using var ring = new TftpBlockRing(blockSize: 4, capacity: 4);

        Assert.False(ring.ReadNext(content));
        Assert.False(ring.ReadNext(content));
        Assert.True(ring.ReadNext(content));

        Assert.Equal(0, ring.PayloadLength(3));
        var (block, payload) = Decode(ring.Send(3, 0, out _));
        Assert.Equal((ushort)3, block);
        Assert.Empty(payload);
        Assert.Throws<InvalidOperationException>(() => ring.ReadNext(content));
    }

    [Fact]
    public void ReadNext_StreamReturningOneByteAtATime_StillFillsWholeBlocks()
    {
        var content = new TrickleStream(Pattern(9));
        using var ring = new TftpBlockRing(blockSize: 4, capacity: 4);

        Assert.False(ring.ReadNext(content));
        Assert.False(ring.ReadNext(content));
        Assert.True(ring.ReadNext(content));
        Assert.Equal(Pattern(9)[4..8], Decode(ring.Send(2, 0, out _)).Payload);
    }

    [Fact]
    public void Send_FirstAndAgain_SecondIsAResendAndNewerBlockIsNot()
    {
        var content = new MemoryStream(Pattern(12));
        using var ring = new TftpBlockRing(blockSize: 4, capacity: 4);
        ring.ReadNext(content);
        ring.ReadNext(content);

        _ = ring.Send(1, 100, out var first);
        _ = ring.Send(1, 250, out var again);
        _ = ring.Send(2, 300, out var second);

        Assert.False(first);
        Assert.True(again);
        Assert.False(second);
        Assert.True(ring.WasResent(1));
        Assert.False(ring.WasResent(2));
        Assert.Equal(250L, ring.SentAt(1));
        Assert.Equal(2L, ring.HighestSent);
    }

    [Fact]
    public void ReadNext_RingFull_ReusesTheOldestSlotAndForgetsItsResend()
    {
        var content = new MemoryStream(Pattern(20));
        using var ring = new TftpBlockRing(blockSize: 4, capacity: 2);
        ring.ReadNext(content);
        ring.ReadNext(content);
        _ = ring.Send(1, 0, out _);
        _ = ring.Send(1, 0, out _);

        ring.ReadNext(content);

        Assert.False(ring.WasResent(3));
        var (block, payload) = Decode(ring.Send(3, 0, out var resent));
        Assert.False(resent);
        Assert.Equal((ushort)3, block);
        Assert.Equal(Pattern(20)[8..12], payload);
    }

    [Fact]
    public void FromWire_PastBlock65535_NumbersWrapToZeroAndMapBack()
    {
        var content = new MemoryStream(new byte[65537 + 1]);
        using var ring = new TftpBlockRing(blockSize: 1, capacity: 2);
        ushort wireOf65536 = 1;
        for (long b = 1; b <= 65537; b++)
        {
            ring.ReadNext(content);
            var (wire, _) = Decode(ring.Send(b, 0, out _));
            if (b == 65536)
            {
                wireOf65536 = wire;
            }
        }

        Assert.Equal((ushort)0, wireOf65536);
        Assert.Equal(65537L, ring.FromWire(1));
        Assert.Equal(65536L, ring.FromWire(0));
        Assert.Equal(65535L, ring.FromWire(65535));
        Assert.Equal(2L, ring.FromWire(2));
    }

    [Fact]
    public void Send_AfterDispose_Throws()
    {
        var ring = new TftpBlockRing(blockSize: 4, capacity: 2);
        ring.ReadNext(new MemoryStream(Pattern(4)));
        ring.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ring.Send(1, 0, out _).Length);
    }

    /// <summary>A stream that hands out one byte per read, as a pipe or a slow disk may.</summary>
    private sealed class TrickleStream(byte[] content) : MemoryStream(content)
    {
        public override int Read(Span<byte> buffer) => base.Read(buffer.Length > 0 ? buffer[..1] : buffer);
    }
}
