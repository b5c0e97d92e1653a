using System.Text.Json;
using System.Text.Json.Serialization;

namespace Kldload.Facts;

// The facts schema (version 1), as kldload-agent writes it and kldload reads it. Every member is
// optional: a node reports what it can read. Names are camelCase on the wire; the README's
// "Commissioning" section describes each field.

/// <summary>What a node reports about its hardware, read from /sys and /proc in the live image.</summary>
public sealed record NodeFacts
{
    /// <summary>The schema version, 1.</summary>
    public int Schema { get; init; } = 1;

    public SystemFacts? System { get; init; }

    public BoardFacts? Baseboard { get; init; }

    public ChassisFacts? Chassis { get; init; }

    public BiosFacts? Bios { get; init; }

    public FirmwareFacts? Firmware { get; init; }

    public CpuFacts? Cpu { get; init; }

    public MemoryFacts? Memory { get; init; }

    public List<DiskFacts>? Disks { get; init; }

    public List<NicFacts>? Nics { get; init; }

    /// <summary>PCI functions (bridges and host bridges left out).</summary>
    public List<PciDeviceFacts>? Pci { get; init; }

    /// <summary>Display controllers (PCI class 0x03), vendor named.</summary>
    public List<GpuFacts>? Gpus { get; init; }

    public TpmFacts? Tpm { get; init; }

    /// <summary>The switch port the boot NIC is cabled to, when the switch sends LLDP.</summary>
    public LldpFacts? Lldp { get; init; }
}

/// <summary>SMBIOS type 1.</summary>
public sealed record SystemFacts(string? Manufacturer, string? Product, string? Version, string? Serial, string? Uuid, string? Sku, string? Family);

/// <summary>SMBIOS type 2.</summary>
public sealed record BoardFacts(string? Manufacturer, string? Product, string? Version, string? Serial);

/// <summary>SMBIOS type 3 (<c>type</c> is the SMBIOS chassis type number, lock bit cleared).</summary>
public sealed record ChassisFacts(string? Manufacturer, int? Type, string? Version, string? Serial);

/// <summary>SMBIOS type 0.</summary>
public sealed record BiosFacts(string? Vendor, string? Version, string? Date);

/// <summary><c>mode</c> is <c>uefi</c> or <c>bios</c>; <c>secureBoot</c> null when not UEFI or unreadable.</summary>
public sealed record FirmwareFacts(string Mode, bool? SecureBoot);

/// <summary>/proc/cpuinfo: model, topology, and the flags that matter (<c>virtualization</c> is vmx, svm or null).</summary>
public sealed record CpuFacts(string? Model, int Sockets, int Cores, int Threads, string? Virtualization, List<string> Flags);

/// <summary>Memory: <c>totalBytes</c> is the DIMMs' sum (SMBIOS type 17) or, without DIMMs, the kernel's MemTotal.</summary>
public sealed record MemoryFacts(long TotalBytes, double TotalGiB, long? KernelBytes, List<DimmFacts> Dimms);

/// <summary>SMBIOS type 17, one populated slot.</summary>
public sealed record DimmFacts(string? Locator, long SizeMiB, string? Type, int? SpeedMTs, string? Manufacturer, string? Serial, string? PartNumber);

/// <summary>/sys/block/NAME: <c>transport</c> is nvme, sata, sas, virtio, scsi, usb, mmc or other.</summary>
public sealed record DiskFacts(string Name, string? Model, string? Serial, long SizeBytes, bool Rotational, string Transport);

/// <summary>/sys/class/net/NAME (physical NICs only): speed in Mb/s when the link is up, operstate.</summary>
public sealed record NicFacts(string Name, string Mac, string? Driver, string? PciAddress, int? SpeedMbps, string? State);

/// <summary>/sys/bus/pci/devices/ADDR: ids as 4 hex digits, class as 6.</summary>
public sealed record PciDeviceFacts(string Address, string VendorId, string DeviceId, string ClassId, string? Driver);

/// <summary>A display controller: <c>vendor</c> is nvidia, amd, intel or other.</summary>
public sealed record GpuFacts(string Vendor, string PciAddress, string DeviceId);

/// <summary>TPM2_GetCapability(TPM_PROPERTIES): manufacturer (4 ASCII characters), firmware version.</summary>
public sealed record TpmFacts(string? Manufacturer, string? FirmwareVersion, string? VendorString);

/// <summary>LLDP (IEEE 802.1AB) chassis id and port id, read passively on the boot NIC.</summary>
public sealed record LldpFacts(string Interface, string? ChassisId, string? PortId, string? SystemName);

/// <summary>Source-generated serialization of the facts (NativeAOT: no reflection).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(NodeFacts))]
public sealed partial class FactsJsonContext : JsonSerializerContext;
