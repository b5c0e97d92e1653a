using System.Buffers.Binary;

namespace Kldload.Tpm.Marshalling;

/// <summary>
/// Big-endian writer for TPM 2.0 structures (TPM 2.0 Part 1, clause 18: all integers are
/// marshalled most significant byte first). Writing past the end of the destination sets
/// <see cref="Overflowed"/> and stops writing, so callers check once at the end.
/// </summary>
public ref struct TpmWriter
{
    private readonly Span<byte> _buffer;
    private int _position;

    public TpmWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _position = 0;
        Overflowed = false;
    }

    /// <summary>Bytes written so far.</summary>
    public readonly int Position => _position;

    /// <summary>True once a write did not fit.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>The bytes written so far.</summary>
    public readonly ReadOnlySpan<byte> Written => _buffer[.._position];

    private Span<byte> Take(int count)
    {
        if (Overflowed || _buffer.Length - _position < count)
        {
            Overflowed = true;
            return [];
        }

        var span = _buffer.Slice(_position, count);
        _position += count;
        return span;
    }

    public void WriteByte(byte value)
    {
        var span = Take(1);
        if (!span.IsEmpty)
        {
            span[0] = value;
        }
    }

    public void WriteUInt16(ushort value)
    {
        var span = Take(2);
        if (!span.IsEmpty)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span, value);
        }
    }

    public void WriteUInt32(uint value)
    {
        var span = Take(4);
        if (!span.IsEmpty)
        {
            BinaryPrimitives.WriteUInt32BigEndian(span, value);
        }
    }

    public void WriteUInt64(ulong value)
    {
        var span = Take(8);
        if (!span.IsEmpty)
        {
            BinaryPrimitives.WriteUInt64BigEndian(span, value);
        }
    }

    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        var span = Take(value.Length);
        if (!span.IsEmpty)
        {
            value.CopyTo(span);
        }
    }

    /// <summary>Writes a TPM2B: a UINT16 size followed by that many bytes.</summary>
    public void WriteSized(ReadOnlySpan<byte> value)
    {
        if (value.Length > ushort.MaxValue)
        {
            Overflowed = true;
            return;
        }

        WriteUInt16((ushort)value.Length);
        WriteBytes(value);
    }

    /// <summary>Reserves a UINT16 size field; pass the result to <see cref="EndSize16"/>.</summary>
    public int BeginSize16()
    {
        var at = _position;
        WriteUInt16(0);
        return at;
    }

    /// <summary>Fills a size field reserved by <see cref="BeginSize16"/> with the bytes written since.</summary>
    public void EndSize16(int at)
    {
        if (Overflowed)
        {
            return;
        }

        var size = _position - at - 2;
        if (size > ushort.MaxValue)
        {
            Overflowed = true;
            return;
        }

        BinaryPrimitives.WriteUInt16BigEndian(_buffer[at..], (ushort)size);
    }

    /// <summary>Reserves a UINT32 size field; pass the result to <see cref="EndSize32"/>.</summary>
    public int BeginSize32()
    {
        var at = _position;
        WriteUInt32(0);
        return at;
    }

    /// <summary>Fills a size field reserved by <see cref="BeginSize32"/>; <paramref name="includeField"/> counts the field itself (command headers).</summary>
    public void EndSize32(int at, bool includeField = false)
    {
        if (Overflowed)
        {
            return;
        }

        var size = _position - at - (includeField ? 0 : 4);
        BinaryPrimitives.WriteUInt32BigEndian(_buffer[at..], (uint)size);
    }

    /// <summary>Overwrites a UINT32 at an absolute offset (command size in the header).</summary>
    public readonly void PatchUInt32(int at, uint value)
    {
        if (!Overflowed)
        {
            BinaryPrimitives.WriteUInt32BigEndian(_buffer[at..], value);
        }
    }
}
