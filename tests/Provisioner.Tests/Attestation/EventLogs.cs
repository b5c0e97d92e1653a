using System.Buffers.Binary;
using System.Text;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>TCG PC Client event logs built for tests (crypto-agile format, little-endian).</summary>
internal static class EventLogs
{
    /// <summary>
    /// A log holding only the Spec ID header (one SHA-256 bank) and no measurements: it replays to the
    /// all-zero PCRs of a TPM that nothing has extended, like a swtpm started without firmware.
    /// </summary>
    public static byte[] EmptySha256()
    {
        var spec = new List<byte>();
        spec.AddRange(Encoding.ASCII.GetBytes("Spec ID Event03\0"));
        spec.AddRange(U32(0));        // platformClass
        spec.AddRange([0, 2, 0, 2]);  // specVersionMinor, specVersionMajor, specErrata, uintnSize
        spec.AddRange(U32(1));        // numberOfAlgorithms
        spec.AddRange(U16(0x000B));   // TPM_ALG_SHA256
        spec.AddRange(U16(32));
        spec.Add(0);                  // vendorInfoSize

        var log = new List<byte>();
        log.AddRange(U32(0));         // pcrIndex
        log.AddRange(U32(3));         // EV_NO_ACTION
        log.AddRange(new byte[20]);   // SHA-1 digest field of the legacy header
        log.AddRange(U32((uint)spec.Count));
        log.AddRange(spec);
        return [.. log];
    }

    private static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }

    private static byte[] U16(ushort v)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        return b;
    }
}
