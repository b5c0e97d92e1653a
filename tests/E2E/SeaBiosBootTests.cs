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

    /// <summary>
    /// kldload listens only on the boot LAN address (<c>--urls http://10.77.0.1:8080</c>); the agent's
    /// ready goes to the hub's mesh address, where kldload listens for it on its own. The first boot
    /// reaches Ready (the agent pins the mesh CA in the TPM); then another provisioner with its own CA
    /// takes the segment and the same machine refuses it, until that provisioner's operator re-pins the node.
    /// </summary>
    [Fact]
    public async Task Boot_SeaBiosIpxeWithLanBoundUrls_ReadyThenRefusesAnotherProvisionerUntilRepinned()
    {
        await using var lab = await BootLab.StartAsync(new LabOptions { LanBoundUrls = true });
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

        // Issue 14: the agent stays resident, locks the public NIC and serves its metrics on the mesh address.
        await lab.WaitForConsoleAsync(vm, "locked down (nftables table inet kldload_nic)", VmLimit);
        await lab.WaitForConsoleAsync(vm, "kldload-agent: metrics: http://", VmLimit);
        Assert.Equal("200", await lab.HttpStatusAsync($"http://[{mesh}]:9100/metrics"));

        // The hub's own listener serves the node-facing mesh routes only; the rest stays on the LAN address.
        var hub = System.Net.IPAddress.Parse(mesh!).GetAddressBytes();
        Array.Clear(hub, 8, 8);
        hub[15] = 1;
        var hubUrl = $"http://[{new System.Net.IPAddress(hub)}]:{BootLab.HttpPort}";
        Assert.Equal("404", await lab.HttpStatusAsync($"{hubUrl}/api/v1/nodes"));
        Assert.Equal("404", await lab.HttpStatusAsync($"{hubUrl}/boot.ipxe"));
        Assert.Equal("200", await lab.HttpStatusAsync($"{lab.ServerUrl}/healthz"));
        output.WriteLine($"SeaBIOS+iPXE: node {node.GetProperty("id").GetString()} Ready, mesh {mesh}, lastBootToMeshSeconds {BootLab.FormatSeconds(seconds)}");
        await lab.StopVmAsync(vm);

        // Attack 7: another provisioner (its own mesh CA) answers the same machine. The agent pinned the
        // first CA in its TPM, so it refuses this one loudly and never joins that mesh.
        await lab.ReplaceProvisionerAsync();
        var rogue = await lab.StartVmAsync(mac, vm.TpmState);
        var refused = await lab.WaitForConsoleAsync(rogue, "is not the CA pinned in TPM NV", VmLimit);
        Assert.DoesNotContain("kldload-agent: READY", refused, StringComparison.Ordinal);
        var stranger = await lab.NodeAsync(mac);
        Assert.True(stranger is not null, "the second provisioner never saw the node");
        Assert.NotEqual("Ready", stranger.Value.GetProperty("state").GetString());
        output.WriteLine($"another provisioner: the agent refused its CA (pinned in TPM NV), node {stranger.Value.GetProperty("id").GetString()} {stranger.Value.GetProperty("state").GetString()}");
        await lab.StopVmAsync(rogue);

        // The operator of the rebuilt provisioner re-pins the node: the next boot carries kldload.repin=1,
        // the agent replaces the pin and the node is Ready on the new mesh.
        var newId = stranger.Value.GetProperty("id").GetString()!;
        var repin = await lab.CliAsync("nodes", "repin", newId);
        Assert.True(repin.ExitCode == 0, "kldload nodes repin failed: " + repin.Output);
        var again = await lab.StartVmAsync(mac, vm.TpmState);
        var repinned = await lab.WaitReadyAsync(again, mac, VmLimit, bootedAfter: stranger.Value.GetProperty("lastBootAt").GetDateTime());
        Assert.Equal(newId, repinned.GetProperty("id").GetString());
        Assert.Contains("ca pin: re-pinned (kldload.repin=1)", File.ReadAllText(again.SerialLog), StringComparison.Ordinal);
        var pingNew = await lab.PingAsync(repinned.GetProperty("meshAddress").GetString()!);
        Assert.True(pingNew.ExitCode == 0, pingNew.Output);
        output.WriteLine($"re-pinned: node {newId} Ready on the new provisioner's mesh");
    }

    /// <summary>
    /// Issue 9 scenarios 2 and 4 on one VM: the channel holds image versions 1 and 2; the first boot runs
    /// 2; the operator rolls the channel back; the reboot (same swtpm state, no step on the node) lands on
    /// the same node, key and mesh address, and runs version 1 (its marker on the console proves it).
    /// </summary>
    [Fact]
    public async Task Reboot_SameTpmAfterChannelRollback_SameIdentityRunsPreviousImage()
    {
        await using var lab = await BootLab.StartAsync(new LabOptions { TwoImages = true });
        const string mac = "52:54:00:e2:e0:02";
        var vm = await lab.StartVmAsync(mac);
        var first = await lab.WaitReadyAsync(vm, mac, VmLimit);
        Assert.Contains("kldload-image: kldload-live 2", File.ReadAllText(vm.SerialLog), StringComparison.Ordinal);
        output.WriteLine($"first boot: image 2, node {first.GetProperty("id").GetString()}, lastBootToMeshSeconds {BootLab.FormatSeconds(first.GetProperty("lastBootToMeshSeconds").GetDouble())}");
        await lab.StopVmAsync(vm);

        var rollback = await lab.CliAsync("image", "rollback", "--channel", "stable");
        Assert.True(rollback.ExitCode == 0, "kldload image rollback failed: " + rollback.Output);
        Assert.Contains("kldload-live/2 -> kldload-live/1", rollback.Output, StringComparison.Ordinal);

        var rebootAt = DateTime.UtcNow;
        var again = await lab.StartVmAsync(mac, vm.TpmState);
        var second = await lab.WaitReadyAsync(again, mac, VmLimit, bootedAfter: first.GetProperty("lastBootAt").GetDateTime());

        Assert.Equal(first.GetProperty("id").GetString(), second.GetProperty("id").GetString());
        Assert.Equal(first.GetProperty("wireguardPublicKey").GetString(), second.GetProperty("wireguardPublicKey").GetString());
        Assert.Equal(first.GetProperty("meshAddress").GetString(), second.GetProperty("meshAddress").GetString());
        var console = File.ReadAllText(again.SerialLog);
        Assert.Contains("kldload-image: kldload-live 1", console, StringComparison.Ordinal);
        Assert.DoesNotContain("kldload-image: kldload-live 2", console, StringComparison.Ordinal);
        // The second boot is timed from its own first DHCP packet, not from the first boot's.
        var secondSeconds = second.GetProperty("lastBootToMeshSeconds").GetDouble();
        Assert.InRange(secondSeconds, 0.1, (DateTime.UtcNow - rebootAt).TotalSeconds);
        var ping = await lab.PingAsync(second.GetProperty("meshAddress").GetString()!);
        Assert.True(ping.ExitCode == 0, ping.Output);
        output.WriteLine($"reboot after rollback: same node {second.GetProperty("id").GetString()}, image 1, lastBootToMeshSeconds {BootLab.FormatSeconds(secondSeconds)}");
        await lab.StopVmAsync(again);

        // Key rotation on the same machine: the hub drops the current key at once; the next boot
        // takes the next key epoch from the challenge and keeps its address.
        var id = second.GetProperty("id").GetString()!;
        var rotate = await lab.CliAsync("nodes", "rotate-key", id);
        Assert.True(rotate.ExitCode == 0, "kldload nodes rotate-key failed: " + rotate.Output);
        var third = await lab.StartVmAsync(mac, vm.TpmState);
        var rotated = await lab.WaitReadyAsync(third, mac, VmLimit, bootedAfter: second.GetProperty("lastBootAt").GetDateTime());
        Assert.Equal(id, rotated.GetProperty("id").GetString());
        Assert.Equal(second.GetProperty("meshAddress").GetString(), rotated.GetProperty("meshAddress").GetString());
        Assert.NotEqual(second.GetProperty("wireguardPublicKey").GetString(), rotated.GetProperty("wireguardPublicKey").GetString());
        Assert.Contains("(epoch 1)", File.ReadAllText(third.SerialLog), StringComparison.Ordinal);
        var pingRotated = await lab.PingAsync(rotated.GetProperty("meshAddress").GetString()!);
        Assert.True(pingRotated.ExitCode == 0, pingRotated.Output);
        output.WriteLine($"key rotation: same node {id} and address, new key {rotated.GetProperty("wireguardPublicKey").GetString()} (epoch 1)");
    }
}
