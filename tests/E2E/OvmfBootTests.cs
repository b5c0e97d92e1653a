using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// End-to-end on UEFI: OVMF with the NIC's option ROM disabled PXE-boots over its own UEFI network stack
/// (DHCP arch 7 → snponly.efi over TFTP → boot.ipxe), and OVMF measures the kernel iPXE starts into PCR 4;
/// kldload checks that Authenticode digest against the image it served.
/// </summary>
[Trait("Tier", "Qemu")]
public class OvmfBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(8);

    /// <summary>
    /// Issue 9 scenarios 1 (OVMF) and 6 on one VM: a measured boot reaches Ready; after
    /// <c>kldload nodes decommission</c> the same machine's next boot is refused attestation and never
    /// reaches the mesh. The TPM is vendor-made (<c>swtpm_setup --create-ek-cert</c> under a CA in
    /// <c>Attestation:EkRootsDir</c>) and the policy is Auto: the real agent sends the EK certificate from
    /// NV and the node reaches Ready with no operator step.
    /// </summary>
    [Fact]
    public async Task Boot_OvmfUefiPxeThenDecommission_MeasuredReadyThenRefusedOffTheMesh()
    {
        await using var lab = await BootLab.StartAsync(new LabOptions
        {
            Policy = "Auto",
            ManufacturedTpm = true,
            Settings = ["--Attestation:RequireMeasuredKernel=true"],
        });
        const string mac = "52:54:00:e2:e0:11";
        var vm = await lab.StartVmAsync(mac, lab.ManufacturedTpmState, Firmware.Ovmf);

        var node = await lab.WaitReadyAsync(vm, mac, VmLimit);

        Assert.True(node.GetProperty("kernelMeasured").GetBoolean(), "kldload did not find the served kernel's Authenticode digest in PCR 4");
        var id = node.GetProperty("id").GetString()!;
        Assert.True(node.GetProperty("hasEkCertificate").GetBoolean(), "the agent did not send the EK certificate from NV");
        var enrolled = await lab.EventsAsync(id);
        Assert.DoesNotContain(enrolled, e => e.GetProperty("kind").GetString() == "Operator");
        var mesh = node.GetProperty("meshAddress").GetString();
        Assert.False(string.IsNullOrEmpty(mesh));
        var ping = await lab.PingAsync(mesh!);
        Assert.True(ping.ExitCode == 0, $"ping {mesh} over the hub failed: {ping.Output}");
        var seconds = node.GetProperty("lastBootToMeshSeconds").GetDouble();
        Assert.True(seconds > 0);
        Assert.True(node.GetProperty("commandLineMeasured").GetBoolean(), "PCR 9 did not carry the command line kldload served (LOADED_IMAGE::LoadOptions)");
        output.WriteLine($"OVMF UEFI PXE, policy Auto, vendor EK certificate: node {id} Ready with no operator step, kernel and command line measured, mesh {mesh}, lastBootToMeshSeconds {BootLab.FormatSeconds(seconds)}");
        await lab.StopVmAsync(vm);

        // The same machine again (same TPM, same VARS): firmware PCRs 0, 2 and 7 are as pinned, so the
        // default Attestation:FirmwareDrift lets it straight back to Ready (PCR 1 may differ: recorded only).
        var pinned = node.GetProperty("pinnedPcrs").GetRawText();
        var firstBoot = node.GetProperty("lastBootAt").GetDateTime();
        var reboot = await lab.StartVmAsync(mac, vm.TpmState, Firmware.Ovmf);
        var back = await lab.WaitReadyAsync(reboot, mac, VmLimit, bootedAfter: firstBoot);
        Assert.Equal(id, back.GetProperty("id").GetString());
        Assert.Equal(pinned, back.GetProperty("pinnedPcrs").GetRawText());
        output.WriteLine($"OVMF reboot: node {id} Ready again with the same pinned firmware PCRs");
        await lab.StopVmAsync(reboot);

        var decommission = await lab.CliAsync("nodes", "decommission", id);
        Assert.True(decommission.ExitCode == 0, "kldload nodes decommission failed: " + decommission.Output);
        Assert.Contains("Decommissioned", decommission.Output, StringComparison.Ordinal);

        var again = await lab.StartVmAsync(mac, vm.TpmState, Firmware.Ovmf);
        var console = await lab.WaitForConsoleAsync(again, "quote refused with HTTP 403 (ek-revoked", VmLimit);
        Assert.DoesNotContain("kldload-agent: attested", console, StringComparison.Ordinal);
        Assert.DoesNotContain("kldload-agent: READY", console, StringComparison.Ordinal);
        var after = await lab.NodeByIdAsync(id);
        Assert.Equal("Decommissioned", after.GetProperty("state").GetString());
        var events = await lab.EventsAsync(id);
        Assert.Contains(events, e => e.GetProperty("reason").GetString() == "ek-revoked");
        var gone = await lab.PingAsync(mesh!);
        Assert.True(gone.ExitCode != 0, $"the decommissioned node still answers on the mesh: {gone.Output}");
        output.WriteLine($"decommissioned: next boot refused (ek-revoked), node {id} {after.GetProperty("state").GetString()}, mesh {mesh} silent");
    }
}
