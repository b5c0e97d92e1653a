using System.Buffers.Binary;

namespace Kldload.Tpm.Marshalling;

/// <summary>
/// Big-endian reader for TPM 2.0 structures. A read past the end (or a value a structure
/// rejects through <see cref="Fail"/>) makes the reader fail for good: later reads return
/// zeros and empty spans, and <see cref="Error"/> names the first problem and its offset.
/// </summary>
public ref struct TpmReader
{
    private readonly ReadOnlySpan<byte> _buffer;
    private int _position;

    public TpmReader(ReadOnlySpan<byte> buffer)
    {
        _buffer = buffer;
        _position = 0;
        Error = null;
    }

    public readonly int Position => _position;

    public readonly int Remaining => _buffer.Length - _position;

    /// <summary>True once a read failed.</summary>
    public readonly bool Failed => Error is not null;

    /// <summary>The first failure, with the offset where it happened; null while reads succeed.</summary>
    public string? Error { get; private set; }

    /// <summary>Marks the reader failed (first failure wins).</summary>
    public void Fail(string problem) => Error ??= $"{problem} at offset {_position}";

    private ReadOnlySpan<byte> Take(int count, string what)
    {
        if (Failed)
        {
            return [];
        }

        if (count < 0 || Remaining < count)
        {
            Fail($"truncated {what}: need {count} bytes, have {Remaining}");
            return [];
        }

        var span = _buffer.Slice(_position, count);
        _position += count;
        return span;
    }

    public byte ReadByte(string what = "UINT8")
    {
        var s = Take(1, what);
        return s.IsEmpty ? (byte)0 : s[0];
    }

    public ushort ReadUInt16(string what = "UINT16")
    {
        var s = Take(2, what);
        return s.IsEmpty ? (ushort)0 : BinaryPrimitives.ReadUInt16BigEndian(s);
    }

    public uint ReadUInt32(string what = "UINT32")
    {
        var s = Take(4, what);
        return s.IsEmpty ? 0u : BinaryPrimitives.ReadUInt32BigEndian(s);
    }

    public ulong ReadUInt64(string what = "UINT64")
    {
        var s = Take(8, what);
        return s.IsEmpty ? 0ul : BinaryPrimitives.ReadUInt64BigEndian(s);
    }

    public ReadOnlySpan<byte> ReadBytes(int count, string what = "bytes") => Take(count, what);

    /// <summary>Reads a TPM2B (UINT16 size, then the bytes) and returns the content.</summary>
    public ReadOnlySpan<byte> ReadSized(string what = "TPM2B", int maxSize = ushort.MaxValue)
    {
        var size = ReadUInt16(what + ".size");
        if (!Failed && size > maxSize)
        {
            Fail($"{what}.size {size} exceeds {maxSize}");
            return [];
        }

        return Take(size, what);
    }

    /// <summary>Reads a TPM2B as a fresh array.</summary>
    public byte[] ReadSizedArray(string what = "TPM2B", int maxSize = ushort.MaxValue) => ReadSized(what, maxSize).ToArray();

    public ReadOnlySpan<byte> ReadRemaining() => Take(Remaining, "remainder");

    /// <summary>Fails unless every byte was consumed.</summary>
    public void ExpectEnd(string what)
    {
        if (!Failed && Remaining != 0)
        {
            Fail($"{Remaining} trailing bytes after {what}");
        }
    }
}
