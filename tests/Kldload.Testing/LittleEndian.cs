using System.Buffers.Binary;

namespace Kldload.Testing;

/// <summary>Little-endian integers as bytes, for building TCG event logs and other firmware structures by hand.</summary>
public static class LittleEndian
{
    public static byte[] U16(ushort v)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        return b;
    }

    public static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }
}
