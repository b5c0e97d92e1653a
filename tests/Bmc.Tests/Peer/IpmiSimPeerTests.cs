using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Kldload.Bmc.Ipmi;
using Kldload.Bmc.Ipmi.Protocol;
using Kldload.Testing.Network;

namespace Kldload.Bmc.Tests.Peer;

/// <summary>
/// kldload's IPMI client against a real BMC simulator (OpenIPMI's ipmi_sim), every result
/// cross-checked with ipmitool -I lanplus and with the chassis state the simulator drives.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class IpmiSimPeerTests
{
    [Fact]
    public async Task PowerStatus_Off_AgreesWithIpmitoolAndFallsBackToSuite3()
    {
        await using var sim = await IpmiSim.StartAsync(poweredOn: false);
        await using var client = await IpmiLanClient.ConnectAsync(Options(sim));

        var state = await client.GetPowerStateAsync();

        Assert.Equal(BmcPowerState.Off, state);
        // ipmi_sim refuses suite 17 (invalid authentication algorithm): the client fell back to 3.
        Assert.Equal(3, client.Suite!.Id);
        var (code, output) = await sim.IpmitoolAsync("chassis", "power", "status");
        Assert.Equal(0, code);
        Assert.Contains("Chassis Power is off", output);
    }

    [Fact]
    public async Task PowerOnThenOff_IpmitoolSeesEachState()
    {
        await using var sim = await IpmiSim.StartAsync(poweredOn: false);
        await using var client = await IpmiLanClient.ConnectAsync(Options(sim));

        await client.SetPowerAsync(BmcPowerAction.On);

        Assert.Equal("1", sim.PowerFile);
        Assert.Contains("Chassis Power is on", (await sim.IpmitoolAsync("chassis", "power", "status")).Output);
        Assert.Equal(BmcPowerState.On, await client.GetPowerStateAsync());

        await client.SetPowerAsync(BmcPowerAction.Off);

        Assert.Equal("0", sim.PowerFile);
        Assert.Contains("Chassis Power is off", (await sim.IpmitoolAsync("chassis", "power", "status")).Output);
        Assert.Equal(BmcPowerState.Off, await client.GetPowerStateAsync());
    }

    [Fact]
    public async Task PowerCycle_WhenOn_GoesOffThenOnAgain()
    {
        await using var sim = await IpmiSim.StartAsync(poweredOn: true);
        await using var client = await IpmiLanClient.ConnectAsync(Options(sim));

        await client.SetPowerAsync(BmcPowerAction.Cycle);

        // ipmi_sim turns power off at once and back on about a second later.
        await WaitForAsync(() => sim.ControlLog.SequenceEqual(["power 0", "power 1"]), TimeSpan.FromSeconds(20));
        Assert.Contains("Chassis Power is on", (await sim.IpmitoolAsync("chassis", "power", "status")).Output);
    }

    [Fact]
    public async Task PowerCycle_WhenOff_PowersOn()
    {
        await using var sim = await IpmiSim.StartAsync(poweredOn: false);
        await using var client = await IpmiLanClient.ConnectAsync(Options(sim));

        await client.SetPowerAsync(BmcPowerAction.Cycle);

        Assert.Equal(["power 1"], sim.ControlLog);
        Assert.Contains("Chassis Power is on", (await sim.IpmitoolAsync("chassis", "power", "status")).Output);
    }

    [Fact]
    public async Task OneTimeNetworkBoot_IpmitoolReadsForcePxeForTheNextBootOnly()
    {
        await using var sim = await IpmiSim.StartAsync();
        await using var client = await IpmiLanClient.ConnectAsync(Options(sim));

        await client.SetOneTimeNetworkBootAsync(efi: false);

        Assert.Equal("pxe", sim.BootFile);
        var (code, output) = await sim.IpmitoolAsync("chassis", "bootparam", "get", "5");
        Assert.Equal(0, code);
        Assert.Contains("Force PXE", output);
        Assert.Contains("Options apply to only next boot", output);
        Assert.Equal(BootDevice.Pxe, (await client.GetBootFlagsAsync()).Device);
    }

    [Fact]
    public async Task BootDevice_SetByIpmitool_ReadByClient()
    {
        await using var sim = await IpmiSim.StartAsync();
        Assert.Equal(0, (await sim.IpmitoolAsync("chassis", "bootdev", "disk")).ExitCode);
        await using var client = await IpmiLanClient.ConnectAsync(Options(sim));

        Assert.Equal(BootDevice.Disk, (await client.GetBootFlagsAsync()).Device);
    }

    [Fact]
    public async Task SystemGuid_AgreesWithIpmitoolMcGuid()
    {
        await using var sim = await IpmiSim.StartAsync();
        await using var client = await IpmiLanClient.ConnectAsync(Options(sim));

        var uuid = await client.GetSystemUuidAsync();

        var (code, output) = await sim.IpmitoolAsync("mc", "guid");
        Assert.Equal(0, code);
        Assert.Contains($"System GUID   : {uuid.Reported}", output);
    }

    [Fact]
    public async Task WrongPassword_AuthenticationFailedNamingThePassword()
    {
        await using var sim = await IpmiSim.StartAsync();
        await using var client = await IpmiLanClient.ConnectAsync(Options(sim) with { Password = "not-it" });

        var e = await Assert.ThrowsAsync<BmcException>(() => client.GetPowerStateAsync());

        Assert.Equal(BmcErrorKind.AuthenticationFailed, e.Kind);
        Assert.Contains("wrong password", e.Message);
        // ipmitool with the same password is refused too: the oracle agrees.
        Assert.NotEqual(0, (await sim.IpmitoolWithPasswordAsync("not-it", "chassis", "power", "status")).ExitCode);
        Assert.Empty(sim.ControlLog);
    }

    [Fact]
    public async Task UnknownUser_AuthenticationFailedNamingTheUser()
    {
        await using var sim = await IpmiSim.StartAsync();
        await using var client = await IpmiLanClient.ConnectAsync(Options(sim) with { User = "mallory" });

        var e = await Assert.ThrowsAsync<BmcException>(() => client.GetPowerStateAsync());

        Assert.Equal(BmcErrorKind.AuthenticationFailed, e.Kind);
        Assert.Contains("mallory", e.Message);
    }

    [Fact]
    public async Task UserPrivilegeSession_PowerControlRefusedWithTheCompletionCode()
    {
        // ipmi_sim does not cap a session at the user's max privilege (ipmitool -U viewer powers off too),
        // so the session itself asks for User: Chassis Control then needs Operator and is refused.
        await using var sim = await IpmiSim.StartAsync();
        await using var client = await IpmiLanClient.ConnectAsync(Options(sim) with { User = "viewer", Password = "look", Privilege = IpmiPrivilege.User });

        var e = await Assert.ThrowsAsync<BmcException>(() => client.SetPowerAsync(BmcPowerAction.On));

        Assert.Equal(BmcErrorKind.CommandRefused, e.Kind);
        Assert.Contains("insufficient privilege", e.Message);
        Assert.Equal("0", sim.PowerFile);
        Assert.Equal(BmcPowerState.Off, await client.GetPowerStateAsync());
    }

    [Fact]
    public async Task ClosedPort_UnreachableWithinTheRetryBudget()
    {
        var port = FreePort.Udp();
        var options = new IpmiLanOptions { Host = "127.0.0.1", Port = port, User = "admin", Password = "x", AttemptTimeout = TimeSpan.FromMilliseconds(200), Attempts = 3 };
        await using var client = await IpmiLanClient.ConnectAsync(options);
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var e = await Assert.ThrowsAsync<BmcException>(() => client.GetPowerStateAsync(guard.Token));

        Assert.Equal(BmcErrorKind.Unreachable, e.Kind);
        Assert.Contains("did not answer", e.Message);
        Assert.Contains("3 attempts", e.Message);
        Assert.False(guard.IsCancellationRequested);
    }

    [Fact]
    public async Task SilentPeer_UnreachableAfterEveryRetryWasSent()
    {
        // A socket that reads and never answers: a BMC that hangs.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var options = new IpmiLanOptions { Host = "127.0.0.1", Port = ((IPEndPoint)silent.LocalEndPoint!).Port, User = "admin", Password = "x", AttemptTimeout = TimeSpan.FromMilliseconds(100), Attempts = 3 };
        await using var client = await IpmiLanClient.ConnectAsync(options);

        var e = await Assert.ThrowsAsync<BmcException>(() => client.GetPowerStateAsync());

        Assert.Equal(BmcErrorKind.Unreachable, e.Kind);
        var received = 0;
        var buffer = new byte[512];
        while (silent.Available > 0)
        {
            silent.Receive(buffer);
            received++;
        }

        Assert.Equal(3, received);
    }

    private static IpmiLanOptions Options(IpmiSim sim) => new()
    {
        Host = "127.0.0.1",
        Port = sim.Port,
        User = IpmiSim.User,
        Password = IpmiSim.Password,
    };

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(stopwatch.Elapsed < timeout, "condition not met in time");
            await Task.Delay(100);
        }
    }
}
