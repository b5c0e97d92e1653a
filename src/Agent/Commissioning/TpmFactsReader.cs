using System.Globalization;
using System.Text;
using Kldload.Facts;
using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;

namespace Kldload.Agent.Commissioning;

/// <summary>The TPM's maker and firmware from TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES) (TPM 2.0 Part 2, 6.13 TPM_PT).</summary>
internal static class TpmFactsReader
{
    private const uint PtManufacturer = 0x105;
    private const uint PtVendorString1 = 0x106;
    private const uint PtFirmwareVersion1 = 0x10B;
    private const uint PtFirmwareVersion2 = 0x10C;

    public static TpmFacts? Read(Tpm2 tpm)
    {
        ArgumentNullException.ThrowIfNull(tpm);
        try
        {
            var manufacturer = Ascii(tpm.GetTpmProperty(PtManufacturer));
            var vendor = string.Concat(Enumerable.Range(0, 4).Select(i => Ascii(tpm.GetTpmProperty(PtVendorString1 + (uint)i))));
            var v1 = tpm.GetTpmProperty(PtFirmwareVersion1);
            var v2 = tpm.GetTpmProperty(PtFirmwareVersion2);
            return new TpmFacts(manufacturer, FirmwareVersion(v1, v2), vendor.Length == 0 ? null : vendor);
        }
        catch (Exception e) when (e is TpmException or TpmFormatException)
        {
            return null;
        }
    }

    /// <summary>TPM_PT_FIRMWARE_VERSION_1 and _2 as four 16-bit parts (how tpm2_getcap and most vendors show them).</summary>
    internal static string? FirmwareVersion(uint? v1, uint? v2) =>
        v1 is null ? null : string.Create(CultureInfo.InvariantCulture, $"{v1 >> 16}.{v1 & 0xffff}.{(v2 ?? 0) >> 16}.{(v2 ?? 0) & 0xffff}");

    /// <summary>A TPM_PT value holding up to four ASCII characters, big-endian, NULs dropped.</summary>
    internal static string? Ascii(uint? value)
    {
        if (value is null)
        {
            return null;
        }

        Span<byte> b = [(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];
        var s = Encoding.ASCII.GetString(b).Replace("\0", string.Empty, StringComparison.Ordinal).Trim();
        return s.Length == 0 ? null : s;
    }
}
