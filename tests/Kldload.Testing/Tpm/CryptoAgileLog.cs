using System.Text;
using static Kldload.Testing.LittleEndian;

namespace Kldload.Testing.Tpm;

/// <summary>
/// TCG PC Client event logs in the crypto-agile format (TCG PC Client Platform Firmware Profile, 10.2:
/// a legacy-format Spec ID event first, then TCG_PCR_EVENT2 entries), SHA-256 bank only, built by hand
/// for tests.
/// </summary>
public static class CryptoAgileLog
{
    private const ushort Sha256 = 0x000B; // TPM_ALG_SHA256

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
        spec.AddRange(U16(Sha256));
        spec.AddRange(U16(32));       // digestSize
        spec.Add(0);                  // vendorInfoSize

        var log = new List<byte>();
        log.AddRange(U32(0));         // pcrIndex
        log.AddRange(U32(3));         // EV_NO_ACTION
        log.AddRange(new byte[20]);   // SHA-1 digest field of the legacy header
        log.AddRange(U32((uint)spec.Count));
        log.AddRange(spec);
        return [.. log];
    }

    /// <summary>The empty log plus the given events (TCG_PCR_EVENT2 with one SHA-256 digest each), in order.</summary>
    public static byte[] With(params (uint Pcr, uint Type, byte[] Digest, byte[] Data)[] events)
    {
        var log = new List<byte>(EmptySha256());
        foreach (var (pcr, type, digest, data) in events)
        {
            log.AddRange(U32(pcr));
            log.AddRange(U32(type));
            log.AddRange(U32(1));     // digests.count
            log.AddRange(U16(Sha256));
            log.AddRange(digest);
            log.AddRange(U32((uint)data.Length));
            log.AddRange(data);
        }

        return [.. log];
    }
}
