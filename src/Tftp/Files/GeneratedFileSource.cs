using System.Collections.Concurrent;

namespace Kldload.Tftp.Files;

/// <summary>
/// Serves content made in memory (an iPXE script, say) under fixed names, with no temporary files.
/// The factory runs once per request, so each transfer sees one consistent snapshot.
/// </summary>
public sealed class GeneratedFileSource : ITftpFileSource
{
    private readonly ConcurrentDictionary<string, Func<ReadOnlyMemory<byte>>> _files = new(StringComparer.Ordinal);

    /// <summary>Serves <paramref name="factory"/>'s bytes as <paramref name="name"/> (no leading slash).</summary>
    public GeneratedFileSource Map(string name, Func<ReadOnlyMemory<byte>> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var normalized = TftpFileName.Normalize(name, out var refusal) ?? throw new ArgumentException(refusal, nameof(name));
        _files[normalized] = factory;
        return this;
    }

    public TftpFileLookup Open(string requestedName)
    {
        var name = TftpFileName.Normalize(requestedName, out var refusal);
        if (name is null)
        {
            return TftpFileLookup.Refused(refusal!);
        }

        if (!_files.TryGetValue(name, out var factory))
        {
            return TftpFileLookup.NotFound("no generated file of that name");
        }

        var bytes = factory();
        return TftpFileLookup.Found(new TftpFile(new ReadOnlyMemoryStream(bytes), bytes.Length));
    }

    /// <summary>A read-only stream over memory, without copying it into a byte[] first.</summary>
    private sealed class ReadOnlyMemoryStream(ReadOnlyMemory<byte> memory) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => memory.Length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, memory.Length - _position);
            memory.Span.Slice(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
