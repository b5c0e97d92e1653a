namespace Kldload.Tftp.Transfer;

/// <summary>
/// Converts a file to netascii as it is read (RFC 1350 mode "netascii", after RFC 764): LF becomes
/// CR LF and a bare CR becomes CR NUL. The converted length is not known in advance.
/// </summary>
public sealed class NetasciiReadStream(Stream inner) : Stream
{
    private readonly byte[] _input = new byte[4096];
    private int _inputStart;
    private int _inputEnd;
    private int _pending = -1;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var written = 0;
        while (written < buffer.Length)
        {
            if (_pending >= 0)
            {
                buffer[written++] = (byte)_pending;
                _pending = -1;
                continue;
            }

            if (_inputStart == _inputEnd)
            {
                _inputStart = 0;
                _inputEnd = inner.Read(_input);
                if (_inputEnd == 0)
                {
                    break;
                }
            }

            var b = _input[_inputStart++];
            switch (b)
            {
                case (byte)'\n':
                    buffer[written++] = (byte)'\r';
                    _pending = '\n';
                    break;
                case (byte)'\r':
                    buffer[written++] = (byte)'\r';
                    _pending = 0;
                    break;
                default:
                    buffer[written++] = b;
                    break;
            }
        }

        return written;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
