using System.Buffers.Binary;

namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>A forward-only writer over a span the caller sized exactly.</summary>
internal ref struct SpanWriter(Span<byte> destination)
{
    private readonly Span<byte> _destination = destination;

    public int Position { get; private set; }

    public void Byte(byte value) => _destination[Position++] = value;

    public void Bytes(ReadOnlySpan<byte> value)
    {
        value.CopyTo(_destination[Position..]);
        Position += value.Length;
    }

    public void Zeros(int count)
    {
        _destination.Slice(Position, count).Clear();
        Position += count;
    }

    public void UInt16LittleEndian(ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_destination[Position..], value);
        Position += 2;
    }

    public void UInt32LittleEndian(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_destination[Position..], value);
        Position += 4;
    }
}
