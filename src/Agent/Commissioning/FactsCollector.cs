using System.Globalization;
using Kldload.Facts;

namespace Kldload.Agent.Commissioning;

/// <summary>
/// Reads a node's facts from <c>/sys</c> and <c>/proc</c> under a root directory ("/" on the node; a
/// captured tree in the tests). Plain file reads only: no extra package in the live image, nothing
/// NativeAOT cannot do. Anything unreadable is left out rather than guessed; lists are cut at
/// <see cref="FactsLimits.MaxListLength"/>.
/// </summary>
internal sealed class FactsCollector(string root)
{
    // SMBIOS (DSP0134) structure types and field offsets used below.
    private const byte BiosType = 0, SystemType = 1, BaseboardType = 2, ChassisType = 3, MemoryDeviceType = 17;

    private const string EfiGlobalVariable = "8be4df61-93ca-11d2-aa0d-00e098032b8c";

    /// <summary>CPU flags worth reporting (virtualization, crypto and vector extensions, running under a hypervisor).</summary>
    private static readonly string[] NotableCpuFlags = ["vmx", "svm", "hypervisor", "aes", "sha_ni", "avx", "avx2", "avx512f", "sev", "sme", "tdx_guest"];

    /// <summary>Collects everything readable; <paramref name="tpm"/> comes from TPM2_GetCapability, which the caller holds.</summary>
    public NodeFacts Collect(TpmFacts? tpm = null)
    {
        var smbios = ReadSmbios();
        var system = smbios.FirstOrDefault(s => s.Type == SystemType);
        var board = smbios.FirstOrDefault(s => s.Type == BaseboardType);
        var chassis = smbios.FirstOrDefault(s => s.Type == ChassisType);
        var bios = smbios.FirstOrDefault(s => s.Type == BiosType);
        var pci = Pci();
        return new NodeFacts
        {
            System = system is null ? null : new SystemFacts(system.String(0x04), system.String(0x05), system.String(0x06), system.String(0x07), SmbiosTable.Uuid(system), system.String(0x19), system.String(0x1A)),
            Baseboard = board is null ? null : new BoardFacts(board.String(0x04), board.String(0x05), board.String(0x06), board.String(0x07)),
            Chassis = chassis is null ? null : new ChassisFacts(chassis.String(0x04), chassis.Byte(0x05) is { } t ? t & 0x7f : null, chassis.String(0x06), chassis.String(0x07)),
            Bios = bios is null ? null : new BiosFacts(bios.String(0x04), bios.String(0x05), bios.String(0x08)),
            Firmware = Firmware(),
            Cpu = Cpu(),
            Memory = Memory(smbios.Where(s => s.Type == MemoryDeviceType)),
            Disks = Disks(),
            Nics = Nics(),
            Pci = pci,
            Gpus = [.. pci.Where(p => p.ClassId.StartsWith("03", StringComparison.Ordinal)).Select(p => new GpuFacts(GpuVendor(p.VendorId), p.Address, p.DeviceId))],
            Tpm = tpm,
        };
    }

    private string Path(string relative) => System.IO.Path.Combine(root, relative);

    private string? Text(string relative)
    {
        try
        {
            var s = File.ReadAllText(Path(relative)).Trim();
            return s.Length == 0 ? null : s;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // sysfs answers EINVAL for some attributes (speed of a link that is down): unknown.
            return null;
        }
    }

    private long? Number(string relative) =>
        long.TryParse(Text(relative), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;

    private IEnumerable<string> Entries(string relative)
    {
        var dir = Path(relative);
        return Directory.Exists(dir) ? Directory.EnumerateFileSystemEntries(dir).Select(System.IO.Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal) : [];
    }

    /// <summary>KEY=VALUE lines of a uevent file.</summary>
    private Dictionary<string, string> Uevent(string relative)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in (Text(relative) ?? string.Empty).Split('\n'))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                result[line[..eq]] = line[(eq + 1)..].Trim();
            }
        }

        return result;
    }

    private List<SmbiosStructure> ReadSmbios()
    {
        try
        {
            var path = Path("sys/firmware/dmi/tables/DMI");
            return File.Exists(path) ? SmbiosTable.Read(File.ReadAllBytes(path)) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private FirmwareFacts Firmware()
    {
        if (!Directory.Exists(Path("sys/firmware/efi")))
        {
            return new FirmwareFacts("bios", null);
        }

        // An EFI variable file is 4 bytes of attributes, then the value: SecureBoot is one byte, 1 = on.
        bool? secureBoot = null;
        try
        {
            var v = File.ReadAllBytes(Path($"sys/firmware/efi/efivars/SecureBoot-{EfiGlobalVariable}"));
            secureBoot = v.Length >= 5 ? v[4] == 1 : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return new FirmwareFacts("uefi", secureBoot);
    }

    private CpuFacts? Cpu()
    {
        var text = Text("proc/cpuinfo");
        if (text is null)
        {
            return null;
        }

        string? model = null;
        var threads = 0;
        var sockets = new HashSet<string>(StringComparer.Ordinal);
        var cores = new HashSet<string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        string physical = "0";
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                continue;
            }

            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "processor":
                    threads++;
                    physical = "0";
                    break;
                case "model name":
                    model ??= value;
                    break;
                case "physical id":
                    physical = value;
                    sockets.Add(value);
                    break;
                case "core id":
                    cores.Add(physical + "/" + value);
                    break;
                case "flags":
                    flags.UnionWith(value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
                    break;
            }
        }

        var virtualization = flags.Contains("vmx") ? "vmx" : flags.Contains("svm") ? "svm" : null;
        return new CpuFacts(model, Math.Max(1, sockets.Count), cores.Count == 0 ? threads : cores.Count, threads, virtualization,
            [.. NotableCpuFlags.Where(flags.Contains)]);
    }

    private MemoryFacts? Memory(IEnumerable<SmbiosStructure> devices)
    {
        var dimms = new List<DimmFacts>();
        foreach (var d in devices)
        {
            // Size (offset 0x0C): 0 = empty slot, 0xFFFF = unknown, bit 15 set = KiB units, 0x7FFF = see Extended Size (0x1C, MiB).
            var size = d.Word(0x0C);
            long mib;
            if (size is null or 0 or 0xFFFF)
            {
                continue;
            }
            else if (size == 0x7FFF)
            {
                mib = (d.DWord(0x1C) ?? 0) & 0x7FFFFFFF;
            }
            else if ((size & 0x8000) != 0)
            {
                mib = (size.Value & 0x7FFF) / 1024;
            }
            else
            {
                mib = size.Value;
            }

            var speed = d.Word(0x15) is { } s and not 0 ? s == 0xFFFF ? (int?)d.DWord(0x54) : s : null;
            dimms.Add(new DimmFacts(d.String(0x10), mib, MemoryType(d.Byte(0x12)), speed, d.String(0x17), d.String(0x18), d.String(0x1A)));
            if (dimms.Count == FactsLimits.MaxListLength)
            {
                break;
            }
        }

        var kernelKib = MemTotalKib();
        if (dimms.Count == 0 && kernelKib is null)
        {
            return null;
        }

        var total = dimms.Count > 0 ? dimms.Sum(d => d.SizeMiB) * 1024 * 1024 : kernelKib!.Value * 1024;
        return new MemoryFacts(total, Math.Round(total / (1024.0 * 1024 * 1024), 2), kernelKib * 1024, dimms);
    }

    private long? MemTotalKib()
    {
        foreach (var line in (Text("proc/meminfo") ?? string.Empty).Split('\n'))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var kib) ? kib : null;
            }
        }

        return null;
    }

    /// <summary>SMBIOS type 17 Memory Type (offset 0x12), the common values.</summary>
    private static string? MemoryType(byte? type) => type switch
    {
        0x07 => "RAM",
        0x12 => "DDR",
        0x13 => "DDR2",
        0x18 => "DDR3",
        0x1A => "DDR4",
        0x1B => "LPDDR",
        0x1C => "LPDDR2",
        0x1D => "LPDDR3",
        0x1E => "LPDDR4",
        0x22 => "DDR5",
        0x23 => "LPDDR5",
        null or 0 or 2 => null,
        _ => "0x" + type.Value.ToString("x2", CultureInfo.InvariantCulture),
    };

    private List<DiskFacts> Disks()
    {
        var disks = new List<DiskFacts>();
        foreach (var name in Entries("sys/block"))
        {
            if (name.StartsWith("loop", StringComparison.Ordinal) || name.StartsWith("ram", StringComparison.Ordinal) || name.StartsWith("zram", StringComparison.Ordinal)
                || name.StartsWith("dm-", StringComparison.Ordinal) || name.StartsWith("md", StringComparison.Ordinal) || name.StartsWith("sr", StringComparison.Ordinal)
                || name.StartsWith("fd", StringComparison.Ordinal) || name.StartsWith("nbd", StringComparison.Ordinal))
            {
                continue;
            }

            var dir = $"sys/block/{name}";
            var transport = Transport(name, dir);
            var model = Text($"{dir}/device/model");
            var serial = Text($"{dir}/device/serial") ?? Text($"{dir}/serial") ?? ScsiSerial($"{dir}/device/vpd_pg80");
            var sectors = Number($"{dir}/size") ?? 0;
            disks.Add(new DiskFacts(name, model, serial, sectors * 512, Text($"{dir}/queue/rotational") == "1", transport));
            if (disks.Count == FactsLimits.MaxListLength)
            {
                break;
            }
        }

        return disks;
    }

    private string Transport(string name, string dir)
    {
        if (name.StartsWith("nvme", StringComparison.Ordinal))
        {
            return "nvme";
        }

        if (name.StartsWith("vd", StringComparison.Ordinal) || Uevent($"{dir}/device/uevent").GetValueOrDefault("DRIVER") == "virtio_blk")
        {
            return "virtio";
        }

        if (name.StartsWith("mmcblk", StringComparison.Ordinal))
        {
            return "mmc";
        }

        if (name.StartsWith("sd", StringComparison.Ordinal))
        {
            // libata reports the SCSI vendor "ATA"; a USB disk sits under a usb device in the real tree.
            var target = LinkTarget($"sys/block/{name}");
            if (target?.Contains("/usb", StringComparison.Ordinal) == true)
            {
                return "usb";
            }

            if (Text($"{dir}/device/vendor") == "ATA")
            {
                return "sata";
            }

            return target?.Contains("/host", StringComparison.Ordinal) == true && target.Contains("sas", StringComparison.OrdinalIgnoreCase) ? "sas" : "scsi";
        }

        return "other";
    }

    /// <summary>SCSI VPD page 0x80 (Unit Serial Number, SPC-4 7.8.16): 4-byte header, byte 3 the length, then ASCII.</summary>
    private string? ScsiSerial(string relative)
    {
        try
        {
            var page = File.ReadAllBytes(Path(relative));
            if (page.Length < 4 || page[1] != 0x80)
            {
                return null;
            }

            var length = Math.Min(page[3], page.Length - 4);
            var s = System.Text.Encoding.ASCII.GetString(page, 4, length).Trim();
            return s.Length == 0 ? null : s;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private string? LinkTarget(string relative)
    {
        try
        {
            return new FileInfo(Path(relative)).ResolveLinkTarget(returnFinalTarget: true)?.FullName;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private List<NicFacts> Nics()
    {
        var nics = new List<NicFacts>();
        foreach (var name in Entries("sys/class/net"))
        {
            var dir = $"sys/class/net/{name}";
            var mac = Text($"{dir}/address");

            // Physical NICs have a device; lo, bridges, bonds, tunnels and WireGuard do not.
            if (mac is null || !Directory.Exists(Path($"{dir}/device")))
            {
                continue;
            }

            var uevent = Uevent($"{dir}/device/uevent");
            var pciAddress = uevent.GetValueOrDefault("PCI_SLOT_NAME") ?? PciParent(LinkTarget($"{dir}/device"));
            var speed = Number($"{dir}/speed") is { } s and > 0 and <= int.MaxValue ? (int?)s : null;
            nics.Add(new NicFacts(name, mac, uevent.GetValueOrDefault("DRIVER"), pciAddress, speed, Text($"{dir}/operstate")));
            if (nics.Count == FactsLimits.MaxListLength)
            {
                break;
            }
        }

        return nics;
    }

    /// <summary>The PCI address a virtio device hangs from (…/0000:00:03.0/virtio2 → 0000:00:03.0).</summary>
    private static string? PciParent(string? target)
    {
        var parent = target is null ? null : System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(target));
        return parent is { Length: 12 } && parent[4] == ':' && parent[7] == ':' && parent[10] == '.' ? parent : null;
    }

    private List<PciDeviceFacts> Pci()
    {
        var devices = new List<PciDeviceFacts>();
        foreach (var address in Entries("sys/bus/pci/devices"))
        {
            var dir = $"sys/bus/pci/devices/{address}";
            var vendor = Hex(Text($"{dir}/vendor"));
            var device = Hex(Text($"{dir}/device"));
            var cls = Hex(Text($"{dir}/class"));
            if (vendor is null || device is null || cls is null || cls.StartsWith("06", StringComparison.Ordinal))
            {
                continue; // bridges (class 0x06) say nothing about the machine's parts
            }

            devices.Add(new PciDeviceFacts(address, vendor, device, cls, Uevent($"{dir}/uevent").GetValueOrDefault("DRIVER")));
            if (devices.Count == FactsLimits.MaxListLength)
            {
                break;
            }
        }

        return devices;
    }

    private static string? Hex(string? sysfs) =>
        sysfs is { Length: > 2 } && sysfs.StartsWith("0x", StringComparison.Ordinal) ? sysfs[2..].ToLowerInvariant() : null;

    private static string GpuVendor(string vendorId) => vendorId switch
    {
        "10de" => "nvidia",
        "1002" => "amd",
        "8086" => "intel",
        _ => "other",
    };
}
