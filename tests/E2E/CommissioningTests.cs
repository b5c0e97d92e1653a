using System.Globalization;
using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// Commissioning on a real VM: the agent reads the machine QEMU made (SMBIOS serial, vCPUs, memory,
/// an NVMe disk with a serial), binds the facts into its quote, and kldload shows them; the same TPM
/// in a changed machine is an event naming the changes; a profile on facts chooses the image.
/// </summary>
[Trait("Tier", "Qemu")]
public class CommissioningTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(6);

    /// <summary>
    /// Two boots of one VM (same swtpm). The channel holds image versions 1 and 2; a profile pins
    /// version 1 for nodes whose last attested boot had at least 1.4 GiB. Boot one (1.5 GiB, NVMe
    /// KLD-NVME-1) has no facts yet, so it runs the channel's version 2 and reports its hardware bound
    /// into the quote. Boot two (1 GiB, NVMe KLD-NVME-2) is matched on boot one's facts, runs version 1,
    /// and its attestation records an event naming both changes.
    /// </summary>
    [Fact]
    public async Task Boot_QemuHardware_FactsBoundChangesNamedProfileOnFactsPicksTheImage()
    {
        await using var lab = await BootLab.StartAsync(new LabOptions { TwoImages = true });
        await lab.PutAsync("profiles/big-memory",
            """{"priority": 10, "match": {"facts": ["facts.memory.totalGiB >= 1.4"]}, "image": {"name": "kldload-live", "version": "1"}}""");
        const string mac = "52:54:00:e2:e0:31";
        var big = new VmHardware { MemoryMiB = 1536, Cpus = 2, SystemSerial = "KLD-E2E-SYS-1", NvmeSerial = "KLD-NVME-1" };
        var vm = await lab.StartVmAsync(mac, hardware: big);
        var first = await lab.WaitReadyAsync(vm, mac, VmLimit);
        var id = first.GetProperty("id").GetString()!;
        Assert.Contains("kldload-image: kldload-live 2", File.ReadAllText(vm.SerialLog), StringComparison.Ordinal);

        var hardware = await lab.HardwareAsync(id);
        Assert.True(hardware.GetProperty("bound").GetBoolean(), "the facts were not bound into the quote: " + hardware.GetRawText());
        var facts = hardware.GetProperty("facts");
        Assert.Equal("KLD-E2E-SYS-1", facts.GetProperty("system").GetProperty("serial").GetString());
        Assert.Equal(1.5, facts.GetProperty("memory").GetProperty("totalGiB").GetDouble());
        Assert.Equal(2, facts.GetProperty("cpu").GetProperty("threads").GetInt32());
        Assert.Contains(facts.GetProperty("disks").EnumerateArray(), d => d.GetProperty("serial").GetString() == "KLD-NVME-1" && d.GetProperty("transport").GetString() == "nvme");
        Assert.Contains(facts.GetProperty("nics").EnumerateArray(), n => string.Equals(n.GetProperty("mac").GetString(), mac, StringComparison.OrdinalIgnoreCase));
        var show = await lab.CliAsync("nodes", "show", id, "--json");
        Assert.True(show.ExitCode == 0, "kldload nodes show failed: " + show.Output);
        Assert.Contains("KLD-NVME-1", show.Output, StringComparison.Ordinal);
        output.WriteLine($"boot one: node {id} Ready on image 2, facts bound: system serial KLD-E2E-SYS-1, 1.5 GiB, 2 threads, NVMe KLD-NVME-1");
        await lab.StopVmAsync(vm);

        var small = big with { MemoryMiB = 1024, NvmeSerial = "KLD-NVME-2" };
        var again = await lab.StartVmAsync(mac, vm.TpmState, hardware: small);
        var second = await lab.WaitReadyAsync(again, mac, VmLimit, bootedAfter: first.GetProperty("lastBootAt").GetDateTime());
        Assert.Equal(id, second.GetProperty("id").GetString());
        var console = File.ReadAllText(again.SerialLog);
        Assert.Contains("kldload-image: kldload-live 1", console, StringComparison.Ordinal);
        Assert.DoesNotContain("kldload-image: kldload-live 2", console, StringComparison.Ordinal);

        var events = await lab.EventsAsync(id);
        var change = events.Where(e => e.GetProperty("reason").GetString() == "hardware-change").Select(e => e.GetProperty("message").GetString()!).ToList();
        Assert.True(change.Count == 1, "expected one hardware-change event: " + string.Join(" | ", change));
        Assert.Contains("memory 1.5 → 1", change[0], StringComparison.Ordinal);
        Assert.Contains("serial KLD-NVME-1 missing", change[0], StringComparison.Ordinal);
        Assert.Contains("serial KLD-NVME-2 added", change[0], StringComparison.Ordinal);
        var now = (await lab.HardwareAsync(id)).GetProperty("facts");
        Assert.Equal(1.0, now.GetProperty("memory").GetProperty("totalGiB").GetDouble());
        Assert.Equal(2, (await lab.HardwareAsync(id)).GetProperty("history").GetArrayLength());
        output.WriteLine($"boot two: same node, image 1 chosen by the facts profile; event: {change[0]}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"lastBootToMeshSeconds {second.GetProperty("lastBootToMeshSeconds").GetDouble():0.0}"));
    }
}
