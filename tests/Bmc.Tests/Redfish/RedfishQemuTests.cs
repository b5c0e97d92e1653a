using Kldload.Bmc.Redfish;

namespace Kldload.Bmc.Tests.Redfish;

/// <summary>
/// kldload's Redfish client against the test Redfish service driving a real QEMU VM through QMP (the
/// issue's fixture: no Redfish BMC emulator is packaged in Debian), each state cross-checked with
/// redfishtool against the same service and with QEMU itself (its process, QMP, SeaBIOS's log).
/// </summary>
[Trait("Tier", "Peer")]
public sealed class RedfishQemuTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kl-redfish-qemu-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task RebuildSequence_PxeOnceThenCycle_VmBootsFromTheNetworkOnce_ThenPowersOff()
    {
        using var machine = new QemuMachine(_dir);
        await using var service = await RedfishService.StartAsync(machine);
        await using var client = new RedfishClient(Redfishtool.Options(service));

        Assert.Equal(BmcPowerState.Off, await client.GetPowerStateAsync());
        Assert.False(machine.IsRunning);

        // On, with no override: SeaBIOS tries the disk first.
        await client.SetPowerAsync(BmcPowerAction.On);
        Assert.True(machine.IsRunning);
        Assert.Equal("running", machine.Status());
        Assert.Equal("Hard Disk", machine.WaitForFirstBootDevice(1, TimeSpan.FromSeconds(60)));
        Assert.Equal("On", (await Redfishtool.GetSystemAsync(service))["PowerState"]!.GetValue<string>());

        // What `kldload nodes rebuild` does: one-time network boot, then a power cycle.
        await client.SetOneTimeNetworkBootAsync(efi: false);
        var before = machine.Pid;
        await client.SetPowerAsync(BmcPowerAction.Cycle);

        Assert.Equal(2, machine.Starts);
        Assert.NotEqual(before, machine.Pid);
        Assert.Contains("once=n", machine.Launches[1]);
        Assert.Equal("ROM", machine.WaitForFirstBootDevice(2, TimeSpan.FromSeconds(60)));
        // The override was spent by that boot, as redfishtool sees it.
        var boot = (await Redfishtool.GetSystemAsync(service))["Boot"]!;
        Assert.Equal("Disabled", boot["BootSourceOverrideEnabled"]!.GetValue<string>());
        Assert.Equal("None", boot["BootSourceOverrideTarget"]!.GetValue<string>());

        // A second cycle with no new override boots from the disk again.
        await client.SetPowerAsync(BmcPowerAction.Cycle);
        Assert.DoesNotContain("once=n", machine.Launches[2]);
        Assert.Equal("Hard Disk", machine.WaitForFirstBootDevice(3, TimeSpan.FromSeconds(60)));

        await client.SetPowerAsync(BmcPowerAction.Off);
        Assert.False(machine.IsRunning);
        Assert.Null(machine.Pid);
        Assert.Equal(BmcPowerState.Off, await client.GetPowerStateAsync());
        Assert.Equal("Off", (await Redfishtool.GetSystemAsync(service))["PowerState"]!.GetValue<string>());
        Assert.Equal(["On", "PowerCycle", "PowerCycle", "ForceOff"], service.Resets);
    }

    [Fact]
    public async Task RedfishtoolResets_DriveTheSameVm_AndTheClientReadsTheResult()
    {
        using var machine = new QemuMachine(_dir);
        await using var service = await RedfishService.StartAsync(machine);
        await using var client = new RedfishClient(Redfishtool.Options(service));

        var on = await Redfishtool.RunAsync(service, "Systems", "-I", RedfishService.SystemId, "reset", "On");
        Assert.True(on.ExitCode == 0, on.Output);
        Assert.Equal(BmcPowerState.On, await client.GetPowerStateAsync());
        var pid = machine.Pid;

        // ForceRestart is a reset of the same process: QMP reports RESET.
        var restart = await Redfishtool.RunAsync(service, "Systems", "-I", RedfishService.SystemId, "reset", "ForceRestart");
        Assert.True(restart.ExitCode == 0, restart.Output);
        Assert.Contains("RESET", machine.Events);
        Assert.Equal(pid, machine.Pid);
        Assert.Equal(1, machine.Starts);

        var off = await Redfishtool.RunAsync(service, "Systems", "-I", RedfishService.SystemId, "reset", "ForceOff");
        Assert.True(off.ExitCode == 0, off.Output);
        Assert.False(machine.IsRunning);
        Assert.Equal(BmcPowerState.Off, await client.GetPowerStateAsync());
    }
}
