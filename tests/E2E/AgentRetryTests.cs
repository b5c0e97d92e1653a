using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// The agent's fallback: the server is unreachable when the live image comes up (kldload's HTTP port
/// refuses connections for 20 s); the agent says so on the console, retries with backoff, and the node
/// still reaches Ready once the server answers, with no step on the node.
/// </summary>
[Trait("Tier", "Qemu")]
public partial class AgentRetryTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(6);

    [Fact]
    public async Task Attest_ServerUnreachableFor20Seconds_AgentRetriesWithBackoffThenReady()
    {
        await using var lab = await BootLab.StartAsync();
        const string mac = "52:54:00:e2:e0:41";
        var vm = await lab.StartVmAsync(mac);

        // The kernel and initrd came over HTTP already when the image's init prints its marker.
        await lab.WaitForConsoleAsync(vm, "kldload-image:", VmLimit, TimeSpan.FromMilliseconds(100));
        await lab.BlockHttpAsync();
        var blockedAt = DateTime.UtcNow;
        await lab.WaitForConsoleAsync(vm, "unreachable", TimeSpan.FromMinutes(2));
        var remaining = TimeSpan.FromSeconds(20) - (DateTime.UtcNow - blockedAt);
        if (remaining > TimeSpan.Zero)
        {
            await Task.Delay(remaining);
        }

        await lab.UnblockHttpAsync();
        var node = await lab.WaitReadyAsync(vm, mac, VmLimit);

        var console = File.ReadAllText(vm.SerialLog);
        var failures = UnreachableLine().Count(console);
        Assert.True(failures >= 2, $"expected the agent to retry while the server was unreachable; console:\n{console}");
        Assert.Contains("check the cable/VLAN and that kldload runs; retrying", console, StringComparison.Ordinal);
        Assert.Contains("kldload-agent: READY node=", console, StringComparison.Ordinal);
        output.WriteLine($"agent retry: {failures} unreachable attempts in 20 s, then node {node.GetProperty("id").GetString()} Ready, lastBootToMeshSeconds {BootLab.FormatSeconds(node.GetProperty("lastBootToMeshSeconds").GetDouble())}");
    }

    [GeneratedRegex(@"kldload-agent: server \S+ unreachable")]
    private static partial Regex UnreachableLine();
}
