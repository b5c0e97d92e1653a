using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Kldload.Agent.Tests.Resident;

/// <summary>
/// Issue 14 without VMs: kldload (the real binary, <c>serve</c>, hub on wireguard-go) in one network
/// namespace with a bridge, two real agents (<c>kldload-agent</c>, each with its own swtpm and
/// wireguard-go) in two more, joined to the bridge by veth pairs; <c>Mesh:Topology=FullMesh</c>.
/// Both reach Ready and stay resident; the first learns of the second through its control channel;
/// kldload is stopped by its PID (SIGTERM: it removes the hub interface) and the nodes still ping each
/// other directly; kldload starts again on the same data directory and the agents reconnect; the second
/// node is decommissioned and the time until the first node's interface has dropped it is printed.
/// Every address is inside the namespaces, which are deleted at the end (on failure too).
/// </summary>
[Trait("Tier", "Peer")]
public sealed class ResidentMeshNamespaceTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Lan = "10.79.0";
    private const int Port = MeshNamespaceLab.Port;
    private readonly MeshNamespaceLab _lab = new(output, "kl");

    private string Ns(string role) => _lab.Ns(role);

    private string Wg(string role) => _lab.Wg(role);

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _lab.DisposeAsync().AsTask();

    [Fact]
    public async Task TwoAgentsFullMesh_KldloadStoppedStillPingThenDecommissionReachesThePeer()
    {
        // The LAN: a bridge in kldload's namespace, one veth per node.
        var k = Ns("k");
        _lab.Namespace(k);
        Command.Ok("ip", "-n", k, "link", "add", "br0", "type", "bridge");
        Command.Ok("ip", "-n", k, "addr", "add", $"{Lan}.1/24", "dev", "br0");
        Command.Ok("ip", "-n", k, "link", "set", "br0", "up");
        var nodes = new[] { "a", "b" };
        foreach (var (role, i) in nodes.Select((r, i) => (r, i)))
        {
            var ns = Ns(role);
            _lab.Namespace(ns);
            Command.Ok("ip", "-n", k, "link", "add", $"v{role}", "type", "veth", "peer", "name", "lan0", "netns", ns);
            Command.Ok("ip", "-n", k, "link", "set", $"v{role}", "master", "br0", "up");
            Command.Ok("ip", "-n", ns, "addr", "add", $"{Lan}.{11 + i}/24", "dev", "lan0");
            Command.Ok("ip", "-n", ns, "link", "set", "lan0", "up");
            Command.Ok("ip", "-n", ns, "route", "add", "default", "via", $"{Lan}.1");
        }

        // kldload with an image on the default channel (any bytes: nodes here never boot it).
        var data = Path.Combine(_lab.Dir, "kldload");
        _lab.ImportImage(data);
        var kldload = await StartKldloadAsync(data);

        // Two nodes: swtpm and the agent in each namespace, attested one after the other.
        var ready = new Dictionary<string, MeshNamespaceLab.Node>();
        foreach (var role in nodes)
        {
            var state = Directory.CreateDirectory(Path.Combine(_lab.Dir, role)).FullName;
            var tpm = Directory.CreateDirectory(Path.Combine(state, "tpm")).FullName;
            ready[role] = await _lab.BootNodeAsync(role, Ns(role), Lan, tpm, 2321, state, Wg(role));
        }

        var agents = ready.ToDictionary(n => n.Key, n => n.Value.Agent);
        var (idB, meshA, meshB) = (ready["b"].Id, ready["a"].Mesh, ready["b"].Mesh);
        output.WriteLine($"a = {ready["a"].Id} {meshA}, b = {idB} {meshB}");

        // a attested before b existed: b reaches it through a's control channel, peer by peer.
        await agents["a"].WaitForAsync(l => l.StartsWith("kldload-agent: bundle: epoch", StringComparison.Ordinal) && l.Contains("1 peers set", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        var keyB = Command.Ok("ip", "netns", "exec", Ns("b"), "wg", "show", Wg("b"), "public-key").Trim();
        Assert.Contains(keyB, Command.Ok("ip", "netns", "exec", Ns("a"), "wg", "show", Wg("a"), "peers"));
        Assert.True(await MeshNamespaceLab.PingAsync(Ns("a"), meshB, TimeSpan.FromSeconds(30)), "a cannot ping b over the mesh with kldload up");

        // b's metrics answer on its mesh address (from a, through the tunnel) and not on its LAN address.
        await agents["b"].WaitForAsync(l => l.Contains("kldload-agent: metrics: http://", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        var metrics = Command.Ok("ip", "netns", "exec", Ns("a"), "curl", "-sf", "-m", "10", $"http://[{meshB}]:9100/metrics");
        Assert.Contains("kldload_agent_state{state=\"watching\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains($"kldload_wireguard_peer_last_handshake_seconds{{peer=\"{ready["a"].Id}\"", metrics, StringComparison.Ordinal);
        Assert.NotEqual(0, Command.Run("ip", "netns", "exec", Ns("a"), "curl", "-sf", "-m", "3", $"http://{Lan}.12:9100/metrics").ExitCode);

        // kldload stopped: the hub interface goes with it, a and b keep pinging each other directly.
        await kldload.TerminateAsync();
        Assert.False(Command.Run("ip", "-n", k, "link", "show", Wg("k")).ExitCode == 0, "the hub interface outlived kldload");
        for (var i = 0; i < 5; i++)
        {
            Assert.True(await MeshNamespaceLab.PingAsync(Ns("a"), meshB, TimeSpan.FromSeconds(5)), $"ping {i + 1} of 5 from a to b failed with kldload stopped");
            Assert.True(await MeshNamespaceLab.PingAsync(Ns("b"), meshA, TimeSpan.FromSeconds(5)), $"ping {i + 1} of 5 from b to a failed with kldload stopped");
            await Task.Delay(1000);
        }

        // A long poll in flight when the hub interface went may get no answer at all: the agent notices at
        // its request timeout (40 s, ResidentHost), so the bound is that plus a retry, not a figure.
        await agents["a"].WaitForAsync(l => l.Contains("control channel: kldload unreachable", StringComparison.Ordinal), TimeSpan.FromSeconds(90));

        // kldload again, same data: both agents reconnect, nothing restarted on the nodes.
        var connected = agents.ToDictionary(a => a.Key, a => a.Value.Count(l => l.Contains("control channel: connected", StringComparison.Ordinal)));
        await StartKldloadAsync(data);
        foreach (var (role, agent) in agents)
        {
            await agent.WaitForAsync(_ => agent.Count(l => l.Contains("control channel: connected", StringComparison.Ordinal)) > connected[role], TimeSpan.FromSeconds(60));
        }

        Assert.True(await MeshNamespaceLab.PingAsync(Ns("a"), meshB, TimeSpan.FromSeconds(10)), "a cannot ping b after kldload restarted");

        // Decommission b: time from the API call to a's interface without b's key. One admin read first,
        // so the figure is not the restarted process's first admin request (JIT, first database read).
        var admin = File.ReadAllText(Path.Combine(data, "admin.token")).Trim();
        Command.Ok("ip", "netns", "exec", k, "curl", "-sf", "-H", $"Authorization: Bearer {admin}", $"http://{Lan}.1:{Port}/api/v1/nodes/{idB}");
        var clock = Stopwatch.StartNew();
        Command.Ok("ip", "netns", "exec", k, "curl", "-sf", "-X", "POST", "-H", $"Authorization: Bearer {admin}", "-H", "Content-Type: application/json",
            "-d", "{}", $"http://{Lan}.1:{Port}/api/v1/nodes/{idB}/decommission");
        var api = clock.Elapsed;
        while (Command.Ok("ip", "netns", "exec", Ns("a"), "wg", "show", Wg("a"), "peers").Contains(keyB, StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "a still holds b's key 30 s after the decommission");
            await Task.Delay(10);
        }

        var dropped = clock.Elapsed;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"revocation: decommission API call answered after {api.TotalMilliseconds:0} ms; b's key gone from a's interface {dropped.TotalMilliseconds:0} ms after the call started (load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]})"));
        Assert.False(await MeshNamespaceLab.PingAsync(Ns("a"), meshB, TimeSpan.FromSeconds(3)), "a still reaches b after b was decommissioned");
        Assert.Contains(agents["a"].Lines, l => l.Contains("removed: " + keyB, StringComparison.Ordinal));
    }

    private Task<ChildProcess> StartKldloadAsync(string data) =>
        _lab.StartKldloadAsync("kldload", Ns("k"), Lan, data, Wg("k"), "--Mesh:Topology=FullMesh");
}
