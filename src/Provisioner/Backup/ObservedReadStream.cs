using System.Security.Cryptography;
using Kldload.ImageStore;

namespace Kldload.Provisioner.Backup;

/// <summary>
/// A read-only pass-through that hashes and/or reports progress for every byte read. With a known
/// length it claims to be seekable (the tar writer sizes an entry from Length and Position) and never
/// reads past that length; nothing ever seeks it.
/// </summary>
internal sealed class ObservedReadStream(Stream inner, IncrementalHash? hash = null, ITransferProgress? progress = null, long? knownLength = null) : Stream
{
    public long BytesRead { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => knownLength is not null;

    public override bool CanWrite => false;

    public override long Length => knownLength ?? BytesRead;

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer[..Limit(buffer.Length)]);
        Observe(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer[..Limit(buffer.Length)], cancellationToken).ConfigureAwait(false);
        Observe(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Limit(int wanted) => knownLength is { } length ? (int)Math.Min(wanted, length - BytesRead) : wanted;

    private void Observe(ReadOnlySpan<byte> data)
    {
        hash?.AppendData(data);
        progress?.Advance(data.Length);
        BytesRead += data.Length;
    }
}
