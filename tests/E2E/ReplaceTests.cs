using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// Issue 9 scenario 3: new hardware (a fresh swtpm state) behind a known MAC is not silently trusted.
/// Under <c>Attestation:EnrollmentPolicy=Approve</c> it waits; <c>kldload nodes replace</c> moves the old
/// identity onto it and it comes up Ready with the old name and mesh address.
/// </summary>
[Trait("Tier", "Qemu")]
public class ReplaceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(6);

    [Fact]
    public async Task Replace_FreshTpmBehindSameMac_WaitsThenTakesOldNameAndMeshAddress()
    {
        await using var lab = await BootLab.StartAsync(new LabOptions { Policy = "Approve" });
        const string mac = "52:54:00:e2:e0:21";

        // The original machine: Approve makes even its first EK wait for the operator.
        var vm = await lab.StartVmAsync(mac);
        await lab.WaitForConsoleAsync(vm, "kldload-agent: enrolling: node", VmLimit);
        var enrolling = await lab.NodeAsync(mac) ?? throw new InvalidOperationException("no node for " + mac);
        Assert.Equal("Enrolling", enrolling.GetProperty("state").GetString());
        var id = enrolling.GetProperty("id").GetString()!;
        var approve = await lab.CliAsync("nodes", "approve", id);
        Assert.True(approve.ExitCode == 0, "kldload nodes approve failed: " + approve.Output);
        var old = await lab.WaitReadyAsync(vm, mac, VmLimit);
        var name = old.GetProperty("name").GetString();
        var mesh = old.GetProperty("meshAddress").GetString();
        output.WriteLine($"original: node {id} ({name}) approved, Ready, mesh {mesh}, lastBootToMeshSeconds {BootLab.FormatSeconds(old.GetProperty("lastBootToMeshSeconds").GetDouble())}");
        await lab.StopVmAsync(vm);

        // New hardware: same MAC, a TPM never seen before.
        var fresh = await lab.StartVmAsync(mac);
        var console = await lab.WaitForConsoleAsync(fresh, "kldload-agent: enrolling: node", VmLimit);
        Assert.DoesNotContain("kldload-agent: attested", console, StringComparison.Ordinal);
        var waiting = await lab.NodeAsync(mac) ?? throw new InvalidOperationException("no node for " + mac);
        var newId = waiting.GetProperty("id").GetString()!;
        Assert.NotEqual(id, newId);
        Assert.Equal("Enrolling", waiting.GetProperty("state").GetString());
        Assert.NotEqual(old.GetProperty("ekFingerprint").GetString(), waiting.GetProperty("ekFingerprint").GetString());
        Assert.Equal(mesh, (await lab.NodeByIdAsync(id)).GetProperty("meshAddress").GetString());

        var replace = await lab.CliAsync("nodes", "replace", id, "--with", newId);
        Assert.True(replace.ExitCode == 0, "kldload nodes replace failed: " + replace.Output);

        // Replace closed every token of the old record (the waiting agent's too): the operator
        // reboots the new hardware, whose next script carries kldload.repin=1.
        await lab.StopVmAsync(fresh);
        fresh = await lab.StartVmAsync(mac, fresh.TpmState);
        var replaced = await lab.WaitReadyAsync(fresh, mac, VmLimit);

        Assert.Equal(newId, replaced.GetProperty("id").GetString());
        Assert.Equal(name, replaced.GetProperty("name").GetString());
        Assert.Equal(mesh, replaced.GetProperty("meshAddress").GetString());
        Assert.NotEqual(old.GetProperty("wireguardPublicKey").GetString(), replaced.GetProperty("wireguardPublicKey").GetString());
        Assert.Equal("Replaced", (await lab.NodeByIdAsync(id)).GetProperty("state").GetString());
        var ping = await lab.PingAsync(mesh!);
        Assert.True(ping.ExitCode == 0, $"ping {mesh} (the old address, new hardware) failed: {ping.Output}");
        output.WriteLine($"replacement: node {newId} took {name} and {mesh}, Ready, lastBootToMeshSeconds {BootLab.FormatSeconds(replaced.GetProperty("lastBootToMeshSeconds").GetDouble())}");
    }
}
