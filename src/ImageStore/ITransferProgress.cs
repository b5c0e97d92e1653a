namespace Kldload.ImageStore;

/// <summary>
/// Receives progress of a long copy (import or export). The CLI draws a progress bar on a terminal
/// and prints plain lines otherwise; the library only counts bytes.
/// </summary>
public interface ITransferProgress
{
    /// <summary>A transfer of <paramref name="totalBytes"/> (0 when unknown) begins.</summary>
    void Start(string description, long totalBytes);

    /// <summary><paramref name="bytes"/> more bytes were copied.</summary>
    void Advance(long bytes);

    /// <summary>The transfer ended (successfully or not).</summary>
    void Finish();
}

/// <summary>Progress that goes nowhere.</summary>
public sealed class NoTransferProgress : ITransferProgress
{
    public static readonly NoTransferProgress Instance = new();

    public void Start(string description, long totalBytes)
    {
    }

    public void Advance(long bytes)
    {
    }

    public void Finish()
    {
    }
}

/// <summary>A read-only stream that reports how many bytes pass through it.</summary>
internal sealed class ProgressStream(Stream inner, ITransferProgress progress, bool ownsInner) : Stream
{
    public override bool CanRead => true;

    // Seekable when the inner stream is: TarWriter then takes the entry length without buffering.
    public override bool CanSeek => inner.CanSeek;

    public override bool CanWrite => false;

    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => inner.Position = value;
    }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && ownsInner)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private int Count(int n)
    {
        progress.Advance(n);
        return n;
    }
}
