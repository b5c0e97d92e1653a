using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// End-to-end on UEFI: OVMF with the NIC's option ROM disabled PXE-boots over its own UEFI network stack
/// (DHCP arch 7 → ipxe.efi over TFTP → boot.ipxe), and OVMF measures the kernel iPXE starts into PCR 4;
/// kldload checks that Authenticode digest against the image it served.
/// </summary>
[Trait("Tier", "Qemu")]
public class OvmfBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(8);

    [Fact]
    public async Task Boot_OvmfUefiPxe_KernelMeasuredAndReadyOnTheMesh()
    {
        // snponly.efi: Debian's /usr/lib/ipxe/ipxe.efi is a symlink to /boot/ipxe.efi, outside Tftp:Root, and
        // kldload refuses to follow it; snponly.efi is a plain file there and drives the NIC through the
        // firmware's own network protocol (SNP), the one OVMF just PXE-booted over.
        await using var lab = await BootLab.StartAsync(extraSettings: ["--Attestation:RequireMeasuredKernel=true", "--Boot:Loaders:EfiX64=snponly.efi"]);
        const string mac = "52:54:00:e2:e0:11";
        var vm = await lab.StartVmAsync(mac, firmware: Firmware.Ovmf);

        var node = await lab.WaitReadyAsync(vm, mac, VmLimit);

        Assert.True(node.GetProperty("kernelMeasured").GetBoolean(), "kldload did not find the served kernel's Authenticode digest in PCR 4");
        var mesh = node.GetProperty("meshAddress").GetString();
        Assert.False(string.IsNullOrEmpty(mesh));
        var ping = await lab.PingAsync(mesh!);
        Assert.True(ping.ExitCode == 0, $"ping {mesh} over the hub failed: {ping.Output}");
        var seconds = node.GetProperty("lastBootToMeshSeconds").GetDouble();
        Assert.True(seconds > 0);
        output.WriteLine($"OVMF UEFI PXE: node {node.GetProperty("id").GetString()} Ready, kernel measured, mesh {mesh}, lastBootToMeshSeconds {BootLab.FormatSeconds(seconds)}");
    }
}
