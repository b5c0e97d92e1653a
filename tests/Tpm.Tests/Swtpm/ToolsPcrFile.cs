using System.Buffers.Binary;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Tests.Swtpm;

/// <summary>
/// tpm2-tools' "serialized" PCR file (tpm2_quote -o, tpm2_checkquote -f): a little-endian memory dump of
/// TPML_PCR_SELECTION (count u32 | 16 x {hash u16, sizeofSelect u8, pcrSelect[4], pad}) followed by
/// count u32 | TPML_DIGEST (count u32 | 8 x {size u16, buffer[64]})[].
/// </summary>
internal static class ToolsPcrFile
{
    public static byte[] Write(TpmlPcrSelection selection, IReadOnlyDictionary<(TpmAlgId, int), byte[]> values)
    {
        var slots = selection.Enumerate().ToList();
        var lists = (slots.Count + 7) / 8;
        var file = new byte[132 + 4 + (lists * (4 + (8 * 66)))];
        BinaryPrimitives.WriteUInt32LittleEndian(file, (uint)selection.Selections.Count);
        for (var i = 0; i < selection.Selections.Count; i++)
        {
            var s = selection.Selections[i];
            var at = 4 + (i * 8);
            BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(at), (ushort)s.Hash);
            file[at + 2] = (byte)s.Select.Length;
            s.Select.CopyTo(file, at + 3);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(132), (uint)lists);
        for (var l = 0; l < lists; l++)
        {
            var at = 136 + (l * (4 + (8 * 66)));
            var chunk = slots.Skip(l * 8).Take(8).ToList();
            BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(at), (uint)chunk.Count);
            for (var i = 0; i < chunk.Count; i++)
            {
                var v = values[chunk[i]];
                BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(at + 4 + (i * 66)), (ushort)v.Length);
                v.CopyTo(file, at + 6 + (i * 66));
            }
        }

        return file;
    }
}
