using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Kldload.Age;

/// <summary>
/// The age payload (STREAM): a 16-byte nonce, then 64 KiB plaintext chunks, each sealed with
/// ChaCha20-Poly1305 under HKDF-SHA-256(file key, salt nonce, info "payload") with the 12-byte nonce
/// <c>11-byte big-endian counter || last flag</c>. The last chunk carries flag 1, so a cut at any
/// chunk boundary is detected.
/// </summary>
internal static class AgePayload
{
    public const int ChunkSize = 64 * 1024;
    public const int TagSize = 16;
    public const int NonceSize = 16;

    public static byte[] PayloadKey(ReadOnlySpan<byte> fileKey, ReadOnlySpan<byte> nonce) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, fileKey.ToArray(), 32, nonce.ToArray(), "payload"u8.ToArray());

    public static void ChunkNonce(Span<byte> nonce, long counter, bool last)
    {
        nonce.Clear();
        BinaryPrimitives.WriteInt64BigEndian(nonce[3..11], counter);
        nonce[11] = last ? (byte)1 : (byte)0;
    }
}

/// <summary>
/// Encrypts everything written to it into an age file on <c>output</c>. Call <see cref="CompleteAsync"/>
/// (or <see cref="Complete"/>) at the end: only that writes the final chunk, so an archive whose
/// writer failed half-way is recognisably cut short, never silently complete.
/// </summary>
public sealed class AgeEncryptingStream : Stream
{
    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private readonly ChaCha20Poly1305 _aead;
    private readonly byte[] _plain = new byte[AgePayload.ChunkSize];
    private readonly byte[] _sealed = new byte[AgePayload.ChunkSize + AgePayload.TagSize];
    private byte[]? _pending;
    private int _plainLength;
    private long _counter;
    private long _position;
    private bool _completed;

    private AgeEncryptingStream(Stream output, byte[] header, byte[] fileKey, bool leaveOpen)
    {
        _output = output;
        _leaveOpen = leaveOpen;
        var nonce = RandomNumberGenerator.GetBytes(AgePayload.NonceSize);
        _aead = new ChaCha20Poly1305(AgePayload.PayloadKey(fileKey, nonce));
        _pending = [.. header, .. nonce];
    }

    /// <summary>Encrypts to one or more X25519 recipients.</summary>
    public static AgeEncryptingStream ToRecipients(Stream output, IReadOnlyList<AgeRecipient> recipients, bool leaveOpen = false)
    {
        if (recipients.Count == 0)
        {
            throw new ArgumentException("at least one recipient", nameof(recipients));
        }

        var fileKey = RandomNumberGenerator.GetBytes(16);
        var header = AgeHeader.Write(fileKey, recipients.Select(r => AgeHeader.WrapX25519(fileKey, r)).ToList());
        return new AgeEncryptingStream(output, header, fileKey, leaveOpen);
    }

    /// <summary>Encrypts under a passphrase (scrypt work factor 2^<paramref name="logN"/>; age's default is 18).</summary>
    public static AgeEncryptingStream WithPassphrase(Stream output, string passphrase, int logN = 18, bool leaveOpen = false)
    {
        var fileKey = RandomNumberGenerator.GetBytes(16);
        var header = AgeHeader.Write(fileKey, [AgeHeader.WrapScrypt(fileKey, passphrase, logN)]);
        return new AgeEncryptingStream(output, header, fileKey, leaveOpen);
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => !_completed;

    public override long Length => throw new NotSupportedException();

    /// <summary>Plaintext bytes written so far.</summary>
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            if (_plainLength == AgePayload.ChunkSize)
            {
                var n = Seal(last: false);
                WritePending();
                _output.Write(_sealed, 0, n);
            }

            var take = Math.Min(buffer.Length, AgePayload.ChunkSize - _plainLength);
            buffer[..take].CopyTo(_plain.AsSpan(_plainLength));
            _plainLength += take;
            _position += take;
            buffer = buffer[take..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            if (_plainLength == AgePayload.ChunkSize)
            {
                var n = Seal(last: false);
                await WritePendingAsync(cancellationToken).ConfigureAwait(false);
                await _output.WriteAsync(_sealed.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }

            var take = Math.Min(buffer.Length, AgePayload.ChunkSize - _plainLength);
            buffer.Span[..take].CopyTo(_plain.AsSpan(_plainLength));
            _plainLength += take;
            _position += take;
            buffer = buffer[take..];
        }
    }

    /// <summary>Seals the final chunk and flushes the output.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var n = Seal(last: true);
        WritePending();
        _output.Write(_sealed, 0, n);
        _output.Flush();
        _completed = true;
    }

    /// <inheritdoc cref="Complete"/>
    public async Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var n = Seal(last: true);
        await WritePendingAsync(cancellationToken).ConfigureAwait(false);
        await _output.WriteAsync(_sealed.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        _completed = true;
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _aead.Dispose();
            if (!_leaveOpen)
            {
                _output.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private int Seal(bool last)
    {
        Span<byte> nonce = stackalloc byte[12];
        AgePayload.ChunkNonce(nonce, _counter++, last);
        _aead.Encrypt(nonce, _plain.AsSpan(0, _plainLength), _sealed.AsSpan(0, _plainLength), _sealed.AsSpan(_plainLength, AgePayload.TagSize));
        var n = _plainLength + AgePayload.TagSize;
        _plainLength = 0;
        return n;
    }

    private void WritePending()
    {
        if (_pending is { } p)
        {
            _output.Write(p);
            _pending = null;
        }
    }

    private async ValueTask WritePendingAsync(CancellationToken cancellationToken)
    {
        if (_pending is { } p)
        {
            _pending = null;
            await _output.WriteAsync(p, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// Reads an age file: the header is read and authenticated on open, then every chunk is
/// authenticated before any of its bytes are returned. A changed byte surfaces as
/// <see cref="AgeFailure.Damaged"/>, a missing end as <see cref="AgeFailure.Truncated"/>.
/// </summary>
public sealed class AgeDecryptingStream : Stream
{
    private readonly Stream _input;
    private readonly bool _leaveOpen;
    private readonly ChaCha20Poly1305 _aead;
    private readonly byte[] _cipher = new byte[AgePayload.ChunkSize + AgePayload.TagSize + 1];
    private readonly byte[] _plain = new byte[AgePayload.ChunkSize];
    private int _cipherLength;
    private int _plainOffset;
    private int _plainLength;
    private long _counter;
    private long _position;
    private bool _done;

    private AgeDecryptingStream(Stream input, ChaCha20Poly1305 aead, bool leaveOpen)
    {
        _input = input;
        _aead = aead;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Reads the header with <paramref name="keys"/> and returns a stream of the plaintext.</summary>
    public static AgeDecryptingStream Open(Stream input, AgeKeys keys, bool leaveOpen = false)
    {
        var fileKey = AgeHeader.Read(input, keys);
        var nonce = new byte[AgePayload.NonceSize];
        if (input.ReadAtLeast(nonce, nonce.Length, throwOnEndOfStream: false) != nonce.Length)
        {
            throw new AgeException(AgeFailure.Truncated, "the archive ends right after its header");
        }

        return new AgeDecryptingStream(input, new ChaCha20Poly1305(AgePayload.PayloadKey(fileKey, nonce)), leaveOpen);
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    /// <summary>Plaintext bytes returned so far.</summary>
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (_plainOffset == _plainLength)
        {
            if (_done)
            {
                return 0;
            }

            NextChunk();
        }

        var n = Math.Min(buffer.Length, _plainLength - _plainOffset);
        _plain.AsSpan(_plainOffset, n).CopyTo(buffer);
        _plainOffset += n;
        _position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

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
            _aead.Dispose();
            if (!_leaveOpen)
            {
                _input.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private void NextChunk()
    {
        // Read a whole sealed chunk plus one byte of look-ahead: the look-ahead tells whether this
        // chunk is the last one (the end of the file follows) without a length field.
        _cipherLength += _input.ReadAtLeast(_cipher.AsSpan(_cipherLength), _cipher.Length - _cipherLength, throwOnEndOfStream: false);
        var full = AgePayload.ChunkSize + AgePayload.TagSize;
        var last = _cipherLength <= full;
        var sealedLength = last ? _cipherLength : full;
        var at = _counter * full;
        if (sealedLength < AgePayload.TagSize)
        {
            throw new AgeException(AgeFailure.Truncated, $"the archive is cut short at payload byte {at + sealedLength}");
        }

        Span<byte> nonce = stackalloc byte[12];
        AgePayload.ChunkNonce(nonce, _counter, last);
        var plainLength = sealedLength - AgePayload.TagSize;
        try
        {
            _aead.Decrypt(nonce, _cipher.AsSpan(0, plainLength), _cipher.AsSpan(plainLength, AgePayload.TagSize), _plain.AsSpan(0, plainLength));
        }
        catch (AuthenticationTagMismatchException e)
        {
            // A chunk that opens as a middle chunk but sits at the end: the file was cut at a boundary.
            AgePayload.ChunkNonce(nonce, _counter, last: false);
            var cut = last && sealedLength == full && TryOpen(nonce, plainLength);
            throw cut
                ? new AgeException(AgeFailure.Truncated, $"the archive is cut short after payload byte {at + sealedLength} (its final chunk is missing)", e)
                : new AgeException(AgeFailure.Damaged, last && sealedLength < full
                    ? $"the archive is damaged or cut short: its last chunk ({_counter}, payload bytes {at}-{at + sealedLength - 1}) does not authenticate"
                    : $"the archive is damaged: chunk {_counter} (payload bytes {at}-{at + sealedLength - 1}) does not authenticate", e);
        }

        if (last && plainLength == 0 && _counter > 0)
        {
            throw new AgeException(AgeFailure.Damaged, "the archive is damaged (an empty final chunk)");
        }

        _counter++;
        _plainOffset = 0;
        _plainLength = plainLength;
        if (last)
        {
            _done = true;
            _cipherLength = 0;
        }
        else
        {
            _cipher[0] = _cipher[full];
            _cipherLength = 1;
        }
    }

    private bool TryOpen(ReadOnlySpan<byte> nonce, int plainLength)
    {
        try
        {
            _aead.Decrypt(nonce, _cipher.AsSpan(0, plainLength), _cipher.AsSpan(plainLength, AgePayload.TagSize), _plain.AsSpan(0, plainLength));
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }
}
