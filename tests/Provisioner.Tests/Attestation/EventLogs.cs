using System.Text;
using static Kldload.Testing.LittleEndian;

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

    /// <summary>
    /// The empty log plus one EV_EFI_BOOT_SERVICES_APPLICATION event in PCR 4 per digest, in order:
    /// what firmware logs when it starts a loader and the loader starts the kernel.
    /// </summary>
    public static byte[] WithBootApplications(params byte[][] sha256Digests)
    {
        var log = new List<byte>(EmptySha256());
        foreach (var digest in sha256Digests)
        {
            var data = new byte[32]; // UEFI_IMAGE_LOAD_EVENT with no device path: enough for replay
            log.AddRange(U32(4));             // pcrIndex
            log.AddRange(U32(0x80000003));    // EV_EFI_BOOT_SERVICES_APPLICATION
            log.AddRange(U32(1));             // digests.count
            log.AddRange(U16(0x000B));        // TPM_ALG_SHA256
            log.AddRange(digest);
            log.AddRange(U32((uint)data.Length));
            log.AddRange(data);
        }

        return [.. log];
    }

    /// <summary>The empty log plus the given events (SHA-256 bank only), in order.</summary>
    public static byte[] With(params (uint Pcr, uint Type, byte[] Digest, byte[] Data)[] events)
    {
        var log = new List<byte>(EmptySha256());
        foreach (var (pcr, type, digest, data) in events)
        {
            log.AddRange(U32(pcr));
            log.AddRange(U32(type));
            log.AddRange(U32(1));
            log.AddRange(U16(0x000B));
            log.AddRange(digest);
            log.AddRange(U32((uint)data.Length));
            log.AddRange(data);
        }

        return [.. log];
    }

    /// <summary>
    /// The Authenticode digest of a loader kldload serves: Debian's <c>/usr/lib/ipxe/snponly.efi</c>
    /// under the default <c>Tftp:Root</c>, as firmware measures it when it starts it.
    /// </summary>
    public static byte[] ServedLoader()
    {
        Assert.True(Kldload.ImageStore.PeAuthenticode.TryComputeSha256("/usr/lib/ipxe/snponly.efi", out var digest, out var error), error);
        return Convert.FromHexString(digest!.ToString()!);
    }

    /// <summary>EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4.</summary>
    public static (uint, uint, byte[], byte[]) Application(byte[] digest) => (4, 0x80000003, digest, new byte[32]);

    /// <summary>An EV_EVENT_TAG of the Linux EFI stub in PCR 9 (TCG_PCClientTaggedEvent: id, size, text).</summary>
    public static (uint, uint, byte[], byte[]) StubTag(uint id, string text, byte[] digest)
    {
        var body = Encoding.ASCII.GetBytes(text + "\0");
        return (9, 0x00000006, digest, [.. U32(id), .. U32((uint)body.Length), .. body]);
    }
}
