using System.Text;
using static Kldload.Testing.LittleEndian;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>The provisioner tests' event logs and events, on <see cref="CryptoAgileLog"/>.</summary>
internal static class EventLogs
{
    /// <summary>The Spec ID header alone: see <see cref="CryptoAgileLog.EmptySha256"/>.</summary>
    public static byte[] EmptySha256() => CryptoAgileLog.EmptySha256();

    /// <summary>
    /// The empty log plus one EV_EFI_BOOT_SERVICES_APPLICATION event in PCR 4 per digest, in order:
    /// what firmware logs when it starts a loader and the loader starts the kernel.
    /// </summary>
    public static byte[] WithBootApplications(params byte[][] sha256Digests) => CryptoAgileLog.With([.. sha256Digests.Select(Application)]);

    /// <summary>The empty log plus the given events (SHA-256 bank only), in order.</summary>
    public static byte[] With(params (uint Pcr, uint Type, byte[] Digest, byte[] Data)[] events) => CryptoAgileLog.With(events);

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
