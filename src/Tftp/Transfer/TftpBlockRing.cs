using System.Buffers;
using Kldload.Tftp.Protocol;

namespace Kldload.Tftp.Transfer;

/// <summary>
/// Owns the blocks of one transfer that are read and not yet acknowledged: a ring of
/// <c>capacity</c> encoded DATA datagrams (RFC 1350 section 5, header included, so a block is sent
/// and resent without copying) in one pooled buffer, with each block's length, when it was last sent,
/// and whether it was sent more than once. Blocks are numbered 1, 2, ... without wrapping; the
/// header carries the number modulo 65536 and <see cref="FromWire"/> maps an ACK's number back.
/// The caller keeps blocks in the ring no further than <c>capacity</c> past the acknowledged one.
/// Not thread-safe: the transfer that owns it serialises access.
/// </summary>
internal sealed class TftpBlockRing : IDisposable
{
    private readonly int _blockSize;
    private readonly int _stride;
    private readonly int[] _length;
    private readonly long[] _sentAt;
    private readonly bool[] _resent;
    private byte[]? _buffer;

    /// <summary>Rents room for <paramref name="capacity"/> blocks of <paramref name="blockSize"/> bytes.</summary>
    public TftpBlockRing(int blockSize, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _blockSize = blockSize;
        _stride = TftpData.HeaderSize + blockSize;
        Capacity = capacity;
        _buffer = ArrayPool<byte>.Shared.Rent(_stride * capacity);
        _length = new int[capacity];
        _sentAt = new long[capacity];
        _resent = new bool[capacity];
    }

    /// <summary>How many blocks the ring holds.</summary>
    public int Capacity { get; }

    /// <summary>The highest block read into the ring (0 before the first).</summary>
    public long Read { get; private set; }

    /// <summary>The final block (shorter than the block size, possibly empty), or -1 while the end is not read yet.</summary>
    public long LastBlock { get; private set; } = -1;

    /// <summary>The highest block sent so far (0 before the first).</summary>
    public long HighestSent { get; private set; }

    /// <summary>True once the final block is in the ring.</summary>
    public bool EndRead => LastBlock >= 0;

    /// <summary>
    /// Reads block <see cref="Read"/> + 1 from <paramref name="content"/> into its slot, overwriting the
    /// block <see cref="Capacity"/> before it. Returns true when it is the final block. Stream errors
    /// propagate.
    /// </summary>
    public bool ReadNext(Stream content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var buffer = _buffer ?? throw new ObjectDisposedException(nameof(TftpBlockRing));
        if (EndRead)
        {
            throw new InvalidOperationException("the final block is already read");
        }

        var block = Read + 1;
        var slot = Slot(block);
        var payload = buffer.AsSpan((slot * _stride) + TftpData.HeaderSize, _blockSize);
        var length = 0;
        while (length < _blockSize)
        {
            var n = content.Read(payload[length..]);
            if (n == 0)
            {
                break;
            }

            length += n;
        }

        TftpData.WriteHeader(buffer.AsSpan(slot * _stride), (ushort)block);
        _length[slot] = length;
        _resent[slot] = false;
        Read = block;
        if (length < _blockSize)
        {
            LastBlock = block;
        }

        return EndRead;
    }

    /// <summary>The payload length of <paramref name="block"/>.</summary>
    public int PayloadLength(long block) => _length[Slot(block)];

    /// <summary>
    /// Records that <paramref name="block"/> goes out at <paramref name="timestamp"/> and returns its
    /// DATA datagram. Returns true in <paramref name="resent"/> when it was sent before.
    /// </summary>
    public ReadOnlySpan<byte> Send(long block, long timestamp, out bool resent)
    {
        var buffer = _buffer ?? throw new ObjectDisposedException(nameof(TftpBlockRing));
        var slot = Slot(block);
        resent = block <= HighestSent;
        if (resent)
        {
            _resent[slot] = true;
        }
        else
        {
            HighestSent = block;
        }

        _sentAt[slot] = timestamp;
        return buffer.AsSpan(slot * _stride, TftpData.HeaderSize + _length[slot]);
    }

    /// <summary>When <paramref name="block"/> was last sent (a <see cref="TimeProvider"/> timestamp).</summary>
    public long SentAt(long block) => _sentAt[Slot(block)];

    /// <summary>True when <paramref name="block"/> was sent more than once since it was read (Karn's rule: no RTT sample).</summary>
    public bool WasResent(long block) => _resent[Slot(block)];

    /// <summary>
    /// The block an ACK's 16-bit number names: the most recent block at or below
    /// <see cref="HighestSent"/> with that number modulo 65536.
    /// </summary>
    public long FromWire(ushort wireBlock) => HighestSent - (ushort)((ushort)HighestSent - wireBlock);

    /// <summary>Returns the buffer to the pool; the ring is unusable afterwards.</summary>
    public void Dispose()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private int Slot(long block) => (int)((block - 1) % Capacity);
}
