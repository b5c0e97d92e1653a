using System.Text;
using System.Text.Json;
using Kldload.Agent.Commissioning;
using Kldload.Facts;
using Kldload.Facts.Canonical;

namespace Kldload.Agent.Tests.Commissioning;

/// <summary>The collector on captured trees: this machine's /sys and /proc, and a hand-made QEMU guest's (TestData/sys).</summary>
public sealed class FactsCollectorTests
{
    internal static string Tree(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", "sys", name);

    [Fact]
    public void Collect_QemuTree_ReadsSmbiosCpuMemoryDisksNicsGpusAndFirmware()
    {
        var facts = new FactsCollector(Tree("qemu")).Collect(new TpmFacts("IBM", "1.2.3.4", "SW   TPM"));

        Assert.Equal(new SystemFacts("QEMU", "Standard PC (Q35 + ICH9, 2009)", "pc-q35-8.2", "KLD-SERIAL-1", "6b1d2f4e-8c2a-4f7e-9a10-4b2d3c4e5f60", null, null), facts.System);
        Assert.Equal(new BiosFacts("SeaBIOS", "1.16.3-debian-1.16.3-2", "04/01/2014"), facts.Bios);
        Assert.Equal(new ChassisFacts("QEMU", 1, "pc-q35-8.2", null), facts.Chassis);
        Assert.Null(facts.Baseboard);
        Assert.Equal(new FirmwareFacts("uefi", true), facts.Firmware);

        var cpu = facts.Cpu!;
        Assert.Equal(("Intel Xeon Processor (Icelake)", 2, 4, 4, "vmx"), (cpu.Model, cpu.Sockets, cpu.Cores, cpu.Threads, cpu.Virtualization));
        Assert.Equal(["vmx", "hypervisor", "aes", "avx", "avx2", "avx512f"], cpu.Flags);

        var memory = facts.Memory!;
        Assert.Equal(1536L * 1024 * 1024, memory.TotalBytes);
        Assert.Equal(1.5, memory.TotalGiB);
        Assert.Equal(1459000L * 1024, memory.KernelBytes);
        Assert.Equal(2, memory.Dimms.Count); // the empty third slot is left out
        Assert.Equal(new DimmFacts("DIMM 1", 512, "RAM", null, "QEMU", "KLD-DIMM-1", null), memory.Dimms[1]);

        Assert.Equal(
            [
                new DiskFacts("nvme0n1", "QEMU NVMe Ctrl", "KLD-NVME-1", 2097152L * 512, false, "nvme"),
                new DiskFacts("sda", "QEMU HARDDISK", "QM00001", 1953525168L * 512, true, "sata"),
                new DiskFacts("vda", null, "KLD-VIRTIO-1", 20971520L * 512, true, "virtio"),
            ],
            facts.Disks);
        Assert.Equal([new NicFacts("enp0s2", "52:54:00:12:34:56", "e1000e", "0000:00:02.0", 1000, "up")], facts.Nics);
        Assert.Equal(["0000:00:02.0", "0000:00:03.0", "0000:00:04.0", "0000:00:1f.2"], facts.Pci!.Select(p => p.Address)); // host bridge left out
        Assert.Equal(new PciDeviceFacts("0000:00:04.0", "1b36", "0010", "010802", "nvme"), facts.Pci![2]);
        Assert.Equal([new GpuFacts("nvidia", "0000:00:03.0", "2204")], facts.Gpus);
        Assert.Equal("IBM", facts.Tpm!.Manufacturer);
    }

    [Fact]
    public void Collect_ThisMachine_VirtioDiskAndNicWithoutSmbiosOrEfi()
    {
        var facts = new FactsCollector(Tree("this-machine")).Collect();

        Assert.Null(facts.System);
        Assert.Equal(new FirmwareFacts("bios", null), facts.Firmware);
        Assert.Equal([new DiskFacts("vda", null, "1716633212386550", 536870912L * 512, true, "virtio")], facts.Disks); // loop0, zram0 left out
        Assert.Equal([new NicFacts("eth0", "02:fc:00:00:00:01", "virtio_net", null, null, "up")], facts.Nics); // speed -1: unknown; lo, ifb0 have no device
        Assert.Equal("AMD EPYC", facts.Cpu!.Model);
        Assert.Equal(2, facts.Cpu.Threads);
        Assert.Empty(facts.Memory!.Dimms);
        Assert.Equal(24683748L * 1024, facts.Memory.TotalBytes); // no SMBIOS: the kernel's MemTotal
        Assert.Equal(23.54, facts.Memory.TotalGiB);
        Assert.Equal(5, facts.Pci!.Count);
        Assert.Empty(facts.Gpus!);
    }

    [Fact]
    public void Collect_EmptyRoot_NothingInventedNothingThrown()
    {
        var root = Directory.CreateTempSubdirectory("klagent-facts-").FullName;
        try
        {
            var facts = new FactsCollector(root).Collect();
            Assert.Null(facts.System);
            Assert.Null(facts.Cpu);
            Assert.Null(facts.Memory);
            Assert.Empty(facts.Disks!);
            Assert.Empty(facts.Nics!);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void Canonical_QemuFacts_IsCanonicalAndWithinTheServersLimits()
    {
        var canonical = FactsDocument.Canonical(new FactsCollector(Tree("qemu")).Collect());
        Assert.Equal(canonical, JsonCanonicalizer.Canonicalize(canonical));
        Assert.True(canonical.Length < FactsLimits.MaxCanonicalBytes);
        var text = Encoding.UTF8.GetString(canonical);
        Assert.StartsWith("{\"bios\":{", text, StringComparison.Ordinal);
        Assert.Contains("\"memory\":{\"dimms\":[", text, StringComparison.Ordinal);
        Assert.Contains("\"totalGiB\":1.5", text, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(canonical);
        Assert.Equal("KLD-NVME-1", json.RootElement.GetProperty("disks")[0].GetProperty("serial").GetString());
    }
}
