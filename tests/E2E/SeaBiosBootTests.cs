using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// End-to-end: a QEMU machine (SeaBIOS with QEMU's iPXE ROM, swtpm vTPM) PXE-boots the live image from
/// kldload on a private segment, attests, joins the WireGuard mesh and reaches Ready.
/// </summary>
[Trait("Tier", "Qemu")]
public class SeaBiosBootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(6);

    [Fact]
    public async Task Boot_SeaBiosIpxe_AttestsAndReachesReadyOnTheMesh()
    {
        await using var lab = await BootLab.StartAsync();
        const string mac = "52:54:00:e2:e0:01";
        var vm = await lab.StartVmAsync(mac);

        var node = await lab.WaitReadyAsync(vm, mac, VmLimit);

        var mesh = node.GetProperty("meshAddress").GetString();
        Assert.False(string.IsNullOrEmpty(mesh));
        var ping = await lab.PingAsync(mesh!);
        Assert.True(ping.ExitCode == 0, $"ping {mesh} over the hub failed: {ping.Output}");
        var seconds = node.GetProperty("lastBootToMeshSeconds").GetDouble();
        Assert.True(seconds > 0);
        Assert.Contains("kldload-agent: READY node=", BootLab.Tail(vm.SerialLog), StringComparison.Ordinal);
        output.WriteLine($"SeaBIOS+iPXE: node {node.GetProperty("id").GetString()} Ready, mesh {mesh}, lastBootToMeshSeconds {BootLab.FormatSeconds(seconds)}");
    }

    [Fact]
    public async Task Reboot_SameTpm_SameNodeKeyAndMeshAddress()
    {
        await using var lab = await BootLab.StartAsync();
        const string mac = "52:54:00:e2:e0:02";
        var vm = await lab.StartVmAsync(mac);
        var first = await lab.WaitReadyAsync(vm, mac, VmLimit);
        var firstBootAt = first.GetProperty("lastBootAt").GetString();
        await lab.StopVmAsync(vm);

        var rebootAt = DateTime.UtcNow;
        var again = await lab.StartVmAsync(mac, vm.TpmState);
        var deadline = DateTime.UtcNow + VmLimit;
        var second = await lab.WaitReadyAsync(again, mac, VmLimit);
        while (second.GetProperty("lastBootAt").GetString() == firstBootAt)
        {
            Assert.True(DateTime.UtcNow < deadline, "the second boot never attested:\n" + BootLab.Tail(again.SerialLog));
            await Task.Delay(3000);
            second = await lab.WaitReadyAsync(again, mac, VmLimit);
        }

        Assert.Equal(first.GetProperty("id").GetString(), second.GetProperty("id").GetString());
        Assert.Equal(first.GetProperty("wireguardPublicKey").GetString(), second.GetProperty("wireguardPublicKey").GetString());
        Assert.Equal(first.GetProperty("meshAddress").GetString(), second.GetProperty("meshAddress").GetString());
        // The second boot is timed from its own first DHCP packet, not from the first boot's.
        var secondSeconds = second.GetProperty("lastBootToMeshSeconds").GetDouble();
        Assert.InRange(secondSeconds, 0.1, (DateTime.UtcNow - rebootAt).TotalSeconds);
        var ping = await lab.PingAsync(second.GetProperty("meshAddress").GetString()!);
        Assert.True(ping.ExitCode == 0, ping.Output);
        output.WriteLine($"reboot: same node {second.GetProperty("id").GetString()}, lastBootToMeshSeconds {BootLab.FormatSeconds(second.GetProperty("lastBootToMeshSeconds").GetDouble())}");
    }
}
