using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// Issue 14 on real VMs (kernel WireGuard, the live image, the resident agent): two machines on the
/// lab bridge under <c>Mesh:Topology=FullMesh</c> talk to each other directly, and keep doing so while
/// <c>kldload serve</c> is stopped; seen from the LAN, a node shows one open port, its WireGuard UDP port.
/// </summary>
[Trait("Tier", "Qemu")]
public partial class MeshDayTwoTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(8);
    private const int WireGuardPort = 51820;
    private const int PingCount = 30;

    /// <summary>
    /// Both VMs Ready; A pings B over the mesh; kldload is stopped by its PID and both nodes ping each
    /// other 30 times (one a second), every reply expected; kldload starts again on the same data, both
    /// agents reconnect and nothing reboots. Then nmap from the lab namespace finds exactly one open port
    /// on B's LAN address, UDP 51820, while B's metrics answer on its mesh address.
    /// </summary>
    [Fact]
    public async Task FullMesh_TwoVms_PingEachOtherWithKldloadStoppedAndShowTheLanOnlyTheWireGuardPort()
    {
        await using var lab = await BootLab.StartAsync(new LabOptions { Settings = ["--Mesh:Topology=FullMesh"] });
        const string macA = "52:54:00:e2:e0:51";
        const string macB = "52:54:00:e2:e0:52";
        var vmA = await lab.StartVmAsync(macA);
        var vmB = await lab.StartVmAsync(macB);
        var a = await lab.WaitReadyAsync(vmA, macA, VmLimit);
        var b = await lab.WaitReadyAsync(vmB, macB, VmLimit);
        var (meshA, meshB) = (a.GetProperty("meshAddress").GetString()!, b.GetProperty("meshAddress").GetString()!);
        output.WriteLine($"A {a.GetProperty("id").GetString()} mesh {meshA}; B {b.GetProperty("id").GetString()} mesh {meshB}");

        await using var consoleA = await VmConsole.ConnectAsync(vmA);
        await using var consoleB = await VmConsole.ConnectAsync(vmB);
        await consoleA.WaitForShellAsync(VmLimit);
        await consoleB.WaitForShellAsync(VmLimit);
        // $P: the other node's mesh address, in each console shell (keeps the typed lines short).
        await consoleA.TypeAsync("P=" + meshB);
        await consoleB.TypeAsync("P=" + meshA);
        Assert.Equal(meshB, await consoleA.RunAsync("echo $P", TimeSpan.FromMinutes(1)));
        Assert.Equal(meshA, await consoleB.RunAsync("echo $P", TimeSpan.FromMinutes(1)));

        // A attested before B existed: it learns B through its control channel. Direct from the start:
        // the ping goes node to node, not through the hub (which would also answer while kldload runs).
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (Replies(await consoleA.RunAsync("ping -c 2 -W 3 $P|grep trans", TimeSpan.FromMinutes(1))) == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "A cannot ping B over the mesh with kldload up:\n" + BootLab.Tail(vmA.SerialLog));
        }

        var routeA = await consoleA.RunAsync("wg show all endpoints", TimeSpan.FromMinutes(1));
        var lanB = LanAddress(vmB);
        Assert.Contains($"{lanB}:{WireGuardPort}", routeA, StringComparison.Ordinal);

        // kldload stopped by its PID: the hub interface goes with it.
        var connectedBefore = (Count(vmA, "control channel: connected"), Count(vmB, "control channel: connected"));
        await lab.StopKldloadAsync();
        Assert.False(await lab.HubInterfaceExistsAsync(), "the hub interface outlived kldload");
        var pingA = await consoleA.StartAsync($"ping -c {PingCount} -W 3 $P|grep trans");
        var pingB = await consoleB.StartAsync($"ping -c {PingCount} -W 3 $P|grep trans");
        var fromA = await consoleA.ResultAsync(pingA, TimeSpan.FromMinutes(3));
        var fromB = await consoleB.ResultAsync(pingB, TimeSpan.FromMinutes(3));
        output.WriteLine($"kldload stopped: A -> B {fromA}; B -> A {fromB}");
        Assert.Equal(PingCount, Replies(fromA));
        Assert.Equal(PingCount, Replies(fromB));
        await lab.WaitForConsoleAsync(vmA, "control channel: kldload unreachable", TimeSpan.FromMinutes(1));
        Assert.False(await lab.HubInterfaceExistsAsync(), "kldload came back during the pings");

        // kldload again on the same data: both agents reconnect, neither node booted again.
        await lab.RestartKldloadAsync();
        await WaitForCountAsync(vmA, "control channel: connected", connectedBefore.Item1 + 1);
        await WaitForCountAsync(vmB, "control channel: connected", connectedBefore.Item2 + 1);
        foreach (var (vm, mac, before) in new[] { (vmA, macA, a), (vmB, macB, b) })
        {
            Assert.False(vm.Qemu.HasExited);
            var now = await lab.NodeAsync(mac) ?? throw new InvalidOperationException("no node for " + mac);
            Assert.Equal("Ready", now.GetProperty("state").GetString());
            Assert.Equal(before.GetProperty("lastBootAt").GetDateTime(), now.GetProperty("lastBootAt").GetDateTime());
            Assert.Equal(1, Count(vm, "kldload-agent: READY node="));
        }

        Assert.Equal(2, Replies(await consoleA.RunAsync("ping -c 2 -W 3 $P|grep trans", TimeSpan.FromMinutes(1))));
        var viaHub = await lab.PingAsync(meshB);
        Assert.True(viaHub.ExitCode == 0, "the lab cannot reach B through the restarted hub: " + viaHub.Output);

        // From the LAN: B's address shows one open port, its WireGuard port (open|filtered: WireGuard is
        // silent to what it cannot authenticate); every other port is refused by the NIC lock. The
        // metrics port answers on the mesh address only.
        await lab.WaitForConsoleAsync(vmB, "locked down (nftables table inet kldload_nic)", TimeSpan.FromSeconds(10));
        Assert.Equal("200", await lab.HttpStatusAsync($"http://[{meshB}]:9100/metrics"));
        var scan = await ScanAsync(lab, lanB);
        output.WriteLine($"nmap {lanB}: {scan}");
        Assert.True(scan.OpenCount == 1, $"expected exactly one open port on {lanB}, found {scan.OpenCount}: {scan}");
        var open = Assert.Single(scan.Open);
        Assert.Equal(("udp", WireGuardPort), (open.Protocol, open.Number));
        // Every scanned TCP port (1-1024, 8080, 9100) answered closed: the lock's reset (nmap folds them).
        Assert.Equal(1026, scan.Folded.GetValueOrDefault("closed") + scan.Ports.Count(p => p is { Protocol: "tcp", State: "closed" }));

        // Refused by the lock, not merely closed: without it the node's stack would answer "port
        // unreachable" (closed) and the scan would look the same as far as open ports go.
        var refused = scan.Ports.Where(p => p.Protocol == "udp" && p.Number != WireGuardPort).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, p => Assert.Equal("filtered", p.State));
    }

    /// <summary>
    /// <c>nmap -sT -sU</c> from the lab namespace: TCP 1-1024 and the ports a node or kldload uses
    /// (8080, 9100), UDP DNS, the DHCP client port, NTP, SNMP, 9100 and the WireGuard port. TCP is
    /// refused with resets, which are not rate-limited; each other UDP port needs an ICMP refusal, which
    /// the node's kernel rate-limits per destination (a burst of 6, then one a second: with ten UDP
    /// ports two went unanswered and read as open|filtered), so the UDP set stays at five refused
    /// ports and nmap keeps its default retries.
    /// </summary>
    private static async Task<PortScan> ScanAsync(BootLab lab, string address)
    {
        var ports = $"T:1-1024,8080,9100,U:53,68,123,161,9100,{WireGuardPort}";
        var r = await lab.InLabAsync(TimeSpan.FromMinutes(5), "nmap", "-n", "-Pn", "-sT", "-sU", "--reason", "-T4", "-p", ports, "-oX", "-", address);
        Assert.True(r.ExitCode == 0, "nmap failed: " + r.Output);
        return PortScan.Parse(r.Output[r.Output.IndexOf("<?xml", StringComparison.Ordinal)..]);
    }

    private static int Replies(string summary)
    {
        var m = PingSummary().Match(summary);
        Assert.True(m.Success, "not a ping summary: " + summary);
        return int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
    }

    private static string LanAddress(Vm vm)
    {
        var m = InitAddress().Match(File.ReadAllText(vm.SerialLog));
        Assert.True(m.Success, "no DHCP address on the console");
        return m.Groups[1].Value;
    }

    private static int Count(Vm vm, string line) => Regex.Count(File.ReadAllText(vm.SerialLog), Regex.Escape(line));

    private static async Task WaitForCountAsync(Vm vm, string line, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (Count(vm, line) < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"'{line}' seen {Count(vm, line)} times, expected {count}:\n{BootLab.Tail(vm.SerialLog)}");
            await Task.Delay(1000);
        }
    }

    [GeneratedRegex(@"(\d+) packets transmitted, (\d+) packets received")]
    private static partial Regex PingSummary();

    [GeneratedRegex(@"kldload-init: \S+ (\d+\.\d+\.\d+\.\d+)/\d+")]
    private static partial Regex InitAddress();
}
