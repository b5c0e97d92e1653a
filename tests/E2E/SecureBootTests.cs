using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// End-to-end with Secure Boot enforced (issue 19): OVMF's Secure Boot build with the Microsoft keys
/// enrolled. The signed chain (<c>Boot:Loader=grub</c>: Debian's shim, Debian's GRUB network image,
/// Debian's signed kernel) boots and reaches Ready; the same machine sent down the iPXE path (a profile
/// with <c>loader: Ipxe</c>) is refused by the firmware, and kldload's history shows the loader fetched
/// over TFTP with no boot script after it.
/// </summary>
[Trait("Tier", "Qemu")]
public class SecureBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(8);

    [Fact]
    public async Task Boot_SecureBootSignedChainThenIpxe_ReadyThenFirmwareRefusesIpxe()
    {
        await using var lab = await BootLab.StartAsync(new LabOptions { Settings = ["--Boot:Loader=Grub", "--Attestation:RequireSecureBoot=true"] });
        const string mac = "52:54:00:e2:e0:51";
        var vm = await lab.StartVmAsync(mac, firmware: Firmware.OvmfSecureBoot);

        var node = await lab.WaitReadyAsync(vm, mac, VmLimit);

        var id = node.GetProperty("id").GetString()!;
        var console = File.ReadAllText(vm.SerialLog);
        Assert.Contains("Secure boot enabled", console, StringComparison.Ordinal);
        Assert.Contains("kldload: booting kldload-live", console, StringComparison.Ordinal);
        var events = (await lab.EventsAsync(id)).Select(e => e.GetProperty("message").GetString() ?? string.Empty).ToList();
        Assert.Contains(events, m => m.StartsWith("TFTP: shimx64.efi sent", StringComparison.Ordinal));
        Assert.Contains(events, m => m.StartsWith("TFTP: grubx64.efi sent", StringComparison.Ordinal));
        Assert.Contains(events, m => m.StartsWith("GRUB configuration requested", StringComparison.Ordinal));
        Assert.Contains(events, m => m.StartsWith("TFTP: /images/", StringComparison.Ordinal));
        Assert.Contains("Kernel is locked down from EFI Secure Boot", console, StringComparison.Ordinal);
        Assert.True(node.GetProperty("secureBoot").GetBoolean(), "PCR 7 did not show Secure Boot on");
        var signers = node.GetProperty("secureBootSigners").EnumerateArray().Select(s => s.GetString()!).ToList();
        Assert.Contains(signers, s => s.StartsWith("db: Microsoft", StringComparison.Ordinal));
        Assert.Contains(signers, s => s.Contains("Debian", StringComparison.Ordinal));
        output.WriteLine($"PCR 7 signers: {string.Join("; ", signers)}; kernelMeasured {node.GetProperty("kernelMeasured")}, commandLineMeasured {node.GetProperty("commandLineMeasured")}");
        Assert.DoesNotContain(events, m => m.StartsWith("iPXE script requested", StringComparison.Ordinal));
        var mesh = node.GetProperty("meshAddress").GetString();
        var ping = await lab.PingAsync(mesh!);
        Assert.True(ping.ExitCode == 0, $"ping {mesh} over the hub failed: {ping.Output}");
        output.WriteLine($"Secure Boot, shim → GRUB → signed kernel: node {id} Ready, mesh {mesh}, lastBootToMeshSeconds {BootLab.FormatSeconds(node.GetProperty("lastBootToMeshSeconds").GetDouble())}");
        await lab.StopVmAsync(vm);

        // The same machine (same TPM, same variable store) on the unsigned path: OVMF fetches the iPXE
        // loader over TFTP, refuses to start it (not signed by a key in db), and never asks for /boot.ipxe.
        await lab.PutAsync("profiles/ipxe-only", $$"""{ "match": { "macs": ["{{mac}}"] }, "loader": "Ipxe" }""");
        var before = (await lab.EventsAsync(id)).Count;
        var again = await lab.StartVmAsync(mac, vm.TpmState, Firmware.OvmfSecureBoot);
        var refused = await lab.WaitForConsoleAsync(again, "Access Denied", VmLimit);
        Assert.DoesNotContain("iPXE", refused, StringComparison.Ordinal);
        var after = (await lab.EventsAsync(id)).Skip(before).Select(e => e.GetProperty("message").GetString() ?? string.Empty).ToList();
        Assert.Contains(after, m => m.StartsWith("TFTP: snponly.efi sent", StringComparison.Ordinal));
        Assert.DoesNotContain(after, m => m.StartsWith("iPXE script requested", StringComparison.Ordinal));
        Assert.DoesNotContain(after, m => m.StartsWith("TFTP: shimx64.efi", StringComparison.Ordinal));
        output.WriteLine($"Secure Boot, iPXE path: firmware refused snponly.efi (Access Denied); kldload's history: {string.Join(" | ", after)}");
        await lab.StopVmAsync(again);

        // Another machine with Secure Boot off (plain OVMF) on the same signed path: shim, GRUB and the
        // kernel run (nothing is verified), the agent attests, and kldload refuses it with the reason.
        const string offMac = "52:54:00:e2:e0:52";
        var off = await lab.StartVmAsync(offMac, firmware: Firmware.Ovmf);
        var offConsole = await lab.WaitForConsoleAsync(off, "secure-boot-off", VmLimit);
        Assert.DoesNotContain("kldload-agent: READY", offConsole, StringComparison.Ordinal);
        var offNode = await lab.NodeAsync(offMac) ?? throw new InvalidOperationException("the Secure Boot-off node is not recorded");
        var offEvents = await lab.EventsAsync(offNode.GetProperty("id").GetString()!);
        // The agent retries, so the refusal may be recorded more than once: each names the reason.
        var refusal = offEvents.First(e => e.GetProperty("reason").GetString() == "secure-boot-off");
        Assert.Contains("Secure Boot is required", offConsole, StringComparison.Ordinal);
        Assert.NotEqual("Ready", offNode.GetProperty("state").GetString());
        var why = offConsole[offConsole.IndexOf("secure-boot-off", StringComparison.Ordinal)..].Split('\n')[0];
        output.WriteLine($"Secure Boot off, RequireSecureBoot=true: node {offNode.GetProperty("state")}, event: {refusal.GetProperty("message").GetString()}; agent: {why}");
    }
}
