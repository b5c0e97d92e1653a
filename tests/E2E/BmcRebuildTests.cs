using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// Issue 15 end to end: one QEMU VM whose only power button is its BMC (ipmi_sim, wired to the VM's
/// KCS interface, whose power commands start and stop the QEMU process). <c>kldload nodes rebuild</c>
/// takes it from powered off to Ready on channel version 2; then <c>kldload image rollback --channel
/// stable --rollout</c> brings it back on version 1, with no hand on the VM in between. Each step is
/// done when the node has attested the image, not when the BMC says "on".
/// </summary>
[Trait("Tier", "Qemu")]
public class BmcRebuildTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(8);

    [Fact]
    public async Task RebuildThenRollbackRollout_IpmiSimPowersTheVm_ReadyOnTwoThenOne()
    {
        await using var lab = await BootLab.StartAsync(new LabOptions { TwoImages = true });
        const string mac = "52:54:00:e2:e0:15";
        var bmc = await lab.StartBmcVmAsync(mac);
        Assert.Contains("Chassis Power is off", (await lab.IpmitoolAsync(bmc, "chassis", "power", "status")).Output, StringComparison.Ordinal);

        // The node is known by its MAC (as after a first DHCP or script request) and its BMC is recorded.
        var seen = await lab.InNamespaceAsync("curl", "-sf", $"{lab.ServerUrl}/boot.ipxe?mac={mac}&platform=pcbios&arch=x86_64");
        Assert.True(seen.ExitCode == 0, seen.Output);
        var password = Path.Combine(bmc.Directory, "password");
        await File.WriteAllTextAsync(password, BmcVm.Password);
        var set = await lab.CliAsync("nodes", "bmc", "set", mac, "--ipmi", $"127.0.0.1:{BmcVm.Port}", "--user", BmcVm.User, "--password-file", password);
        Assert.True(set.ExitCode == 0, "kldload nodes bmc set failed: " + set.Output);

        // From powered off to Ready on channel stable (version 2), through the BMC only.
        var clock = Stopwatch.StartNew();
        var rebuild = await lab.CliAsync(VmLimit, "nodes", "rebuild", mac, "--channel", "stable", "--timeout", "7m");
        var rebuildSeconds = clock.Elapsed.TotalSeconds;
        Assert.True(rebuild.ExitCode == 0, $"kldload nodes rebuild failed:\n{rebuild.Output}\n--- serial ---\n{BootLab.Tail(bmc.SerialLog)}\n--- kldload ---\n{BootLab.Tail(lab.ServerLog)}");
        Assert.Contains("Ready on kldload-live 2", rebuild.Output, StringComparison.Ordinal);
        var node = await lab.NodeAsync(mac) ?? throw new InvalidOperationException("no node for " + mac);
        Assert.Equal("kldload-live 2", node.GetProperty("lastBootedImage").GetString());
        Assert.Contains("kldload-image: kldload-live 2", BootLab.Tail(bmc.SerialLog), StringComparison.Ordinal);
        output.WriteLine($"nodes rebuild: powered off -> Ready on kldload-live 2 in {BootLab.FormatSeconds(rebuildSeconds)} s (boot to mesh {BootLab.FormatSeconds(node.GetProperty("lastBootToMeshSeconds").GetDouble())} s)");

        // The rollback of the channel, rolled out: the same VM, power-cycled by its BMC, Ready on version 1.
        clock.Restart();
        var rollout = await lab.CliAsync(VmLimit, "image", "rollback", "--channel", "stable", "--rollout", "--timeout", "7m");
        var rolloutSeconds = clock.Elapsed.TotalSeconds;
        Assert.True(rollout.ExitCode == 0, $"kldload image rollback --rollout failed:\n{rollout.Output}\n--- serial ---\n{BootLab.Tail(bmc.SerialLog)}\n--- kldload ---\n{BootLab.Tail(lab.ServerLog)}");
        Assert.Contains("Completed: 1 node(s) Ready on kldload-live 1", rollout.Output, StringComparison.Ordinal);
        node = await lab.NodeAsync(mac) ?? throw new InvalidOperationException("no node for " + mac);
        Assert.Equal("Ready", node.GetProperty("state").GetString());
        Assert.Equal("kldload-live 1", node.GetProperty("lastBootedImage").GetString());
        output.WriteLine($"image rollback --rollout: Ready on kldload-live 1 in {BootLab.FormatSeconds(rolloutSeconds)} s (boot to mesh {BootLab.FormatSeconds(node.GetProperty("lastBootToMeshSeconds").GetDouble())} s)");

        // Everything went through the BMC: one-time PXE and a power cycle for each step.
        // (Repeats collapsed: the cycle's power-off can reach the script twice when kldload resends the
        // cycle while QEMU is still stopping, which ipmi_sim executes again; off is idempotent. The VM
        // was started exactly twice.)
        var log = bmc.ControlLog.Where(l => l is "boot pxe" or "power 0" or "power 1").ToList();
        Assert.Equal(["boot pxe", "power 1", "boot pxe", "power 0", "power 1"], log.Where((l, i) => i == 0 || log[i - 1] != l));
        Assert.Equal(2, log.Count(l => l == "power 1"));
        Assert.Contains("Chassis Power is on", (await lab.IpmitoolAsync(bmc, "chassis", "power", "status")).Output, StringComparison.Ordinal);
        using var history = JsonDocument.Parse((await lab.CliAsync("nodes", "events", mac, "--json")).Output);
        Assert.Contains(history.RootElement.EnumerateArray(), e => e.GetProperty("message").GetString()!.Contains("rollout", StringComparison.Ordinal));
    }
}
