using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
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
public sealed partial class ResidentMeshNamespaceTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Lan = "10.79.0";
    private const int Port = 8080;
    private readonly string _id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly string _dir = Directory.CreateTempSubdirectory("klagent-netns-").FullName;
    private readonly List<ChildProcess> _children = [];
    private readonly List<string> _namespaces = [];
    private ChildProcess? _kldload;

    private string Ns(string role) => $"kl{role}-{_id}";

    private static string Bin(string file) => Path.Combine(AppContext.BaseDirectory, file);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var child in Enumerable.Reverse(_children))
        {
            await child.StopAsync();
        }

        foreach (var ns in _namespaces)
        {
            Command.Run("ip", "netns", "del", ns);
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task TwoAgentsFullMesh_KldloadStoppedStillPingThenDecommissionReachesThePeer()
    {
        // The LAN: a bridge in kldload's namespace, one veth per node.
        var k = Ns("k");
        Namespace(k);
        Command.Ok("ip", "-n", k, "link", "add", "br0", "type", "bridge");
        Command.Ok("ip", "-n", k, "addr", "add", $"{Lan}.1/24", "dev", "br0");
        Command.Ok("ip", "-n", k, "link", "set", "br0", "up");
        var nodes = new[] { "a", "b" };
        foreach (var (role, i) in nodes.Select((r, i) => (r, i)))
        {
            var ns = Ns(role);
            Namespace(ns);
            Command.Ok("ip", "-n", k, "link", "add", $"v{role}", "type", "veth", "peer", "name", "lan0", "netns", ns);
            Command.Ok("ip", "-n", k, "link", "set", $"v{role}", "master", "br0", "up");
            Command.Ok("ip", "-n", ns, "addr", "add", $"{Lan}.{11 + i}/24", "dev", "lan0");
            Command.Ok("ip", "-n", ns, "link", "set", "lan0", "up");
            Command.Ok("ip", "-n", ns, "route", "add", "default", "via", $"{Lan}.1");
        }

        // kldload with an image on the default channel (any bytes: nodes here never boot it).
        var data = Path.Combine(_dir, "kldload");
        var image = Directory.CreateDirectory(Path.Combine(_dir, "image")).FullName;
        File.WriteAllBytes(Path.Combine(image, "kernel"), RandomNumberGenerator.GetBytes(4096));
        File.WriteAllBytes(Path.Combine(image, "initrd"), RandomNumberGenerator.GetBytes(4096));
        Command.Ok(Dotnet, Bin("kldload.dll"), "image", "import", image, "--name", "live", "--version", "1", "--channel", "stable", $"--Kldload:DataDir={data}");
        await StartKldloadAsync(data);

        // Two nodes: swtpm and the agent in each namespace, attested one after the other.
        var agents = new Dictionary<string, ChildProcess>();
        foreach (var role in nodes)
        {
            var ns = Ns(role);
            var state = Directory.CreateDirectory(Path.Combine(_dir, role)).FullName;
            Directory.CreateDirectory(Path.Combine(state, "tpm"));
            _children.Add(ChildProcess.Start(output, $"swtpm-{role}", "ip", "netns", "exec", ns, "swtpm", "socket", "--tpm2",
                "--server", "type=tcp,port=2321,bindaddr=127.0.0.1", "--ctrl", "type=tcp,port=2322,bindaddr=127.0.0.1",
                "--tpmstate", $"dir={Path.Combine(state, "tpm")}", "--flags", "not-need-init,startup-clear"));
            var mac = Command.Ok("ip", "-n", ns, "-o", "link", "show", "lan0").Split("link/ether ")[1].Split(' ')[0];
            var script = Command.Ok("ip", "netns", "exec", ns, "curl", "-sf", $"http://{Lan}.1:{Port}/boot.ipxe?mac={mac}");
            var token = TokenPattern().Match(script).Groups[1].Value;
            Assert.False(string.IsNullOrEmpty(token), script);
            var cmdline = Path.Combine(state, "cmdline");
            File.WriteAllText(cmdline, $"console=ttyS0 kldload.server=http://{Lan}.1:{Port} kldload.token={token}\n");
            var agent = ChildProcess.Start(output, $"agent-{role}", new Dictionary<string, string>
            {
                ["KLDLOAD_AGENT_STATE"] = state,
                ["KLDLOAD_AGENT_INTERFACE"] = Wg(role),
                ["KLDLOAD_AGENT_TPM"] = "swtpm:127.0.0.1:2321",
                ["KLDLOAD_AGENT_WIREGUARD"] = "userspace",
            }, "ip", "netns", "exec", ns, Dotnet, Bin("kldload-agent.dll"), cmdline);
            _children.Add(agent);
            agents[role] = agent;
            await agent.WaitForAsync(l => l.Contains("resident: control channel", StringComparison.Ordinal), TimeSpan.FromSeconds(120));
        }

        var ready = agents.ToDictionary(a => a.Key, a => ReadyPattern().Match(a.Value.Output).Groups);
        var (idB, meshA, meshB) = (ready["b"][1].Value, ready["a"][2].Value, ready["b"][2].Value);
        output.WriteLine($"a = {ready["a"][1].Value} {meshA}, b = {idB} {meshB}");

        // a attested before b existed: b reaches it through a's control channel, peer by peer.
        await agents["a"].WaitForAsync(l => l.StartsWith("kldload-agent: bundle: epoch", StringComparison.Ordinal) && l.Contains("1 peers set", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        var keyB = Command.Ok("ip", "netns", "exec", Ns("b"), "wg", "show", Wg("b"), "public-key").Trim();
        Assert.Contains(keyB, Command.Ok("ip", "netns", "exec", Ns("a"), "wg", "show", Wg("a"), "peers"));
        Assert.True(await PingAsync(Ns("a"), meshB, TimeSpan.FromSeconds(30)), "a cannot ping b over the mesh with kldload up");

        // b's metrics answer on its mesh address (from a, through the tunnel) and not on its LAN address.
        await agents["b"].WaitForAsync(l => l.Contains("kldload-agent: metrics: http://", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        var metrics = Command.Ok("ip", "netns", "exec", Ns("a"), "curl", "-sf", "-m", "10", $"http://[{meshB}]:9100/metrics");
        Assert.Contains("kldload_agent_state{state=\"watching\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains($"kldload_wireguard_peer_last_handshake_seconds{{peer=\"{ready["a"][1].Value}\"", metrics, StringComparison.Ordinal);
        Assert.NotEqual(0, Command.Run("ip", "netns", "exec", Ns("a"), "curl", "-sf", "-m", "3", $"http://{Lan}.12:9100/metrics").ExitCode);

        // kldload stopped: the hub interface goes with it, a and b keep pinging each other directly.
        await _kldload!.TerminateAsync();
        Assert.False(Command.Run("ip", "-n", k, "link", "show", Wg("k")).ExitCode == 0, "the hub interface outlived kldload");
        for (var i = 0; i < 5; i++)
        {
            Assert.True(await PingAsync(Ns("a"), meshB, TimeSpan.FromSeconds(5)), $"ping {i + 1} of 5 from a to b failed with kldload stopped");
            Assert.True(await PingAsync(Ns("b"), meshA, TimeSpan.FromSeconds(5)), $"ping {i + 1} of 5 from b to a failed with kldload stopped");
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

        Assert.True(await PingAsync(Ns("a"), meshB, TimeSpan.FromSeconds(10)), "a cannot ping b after kldload restarted");

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
        Assert.False(await PingAsync(Ns("a"), meshB, TimeSpan.FromSeconds(3)), "a still reaches b after b was decommissioned");
        Assert.Contains(agents["a"].Lines, l => l.Contains("removed: " + keyB, StringComparison.Ordinal));
    }

    private const string Dotnet = "dotnet";

    private string Wg(string role) => $"kl{role}{_id}";

    private void Namespace(string name)
    {
        Command.Ok("ip", "netns", "add", name);
        _namespaces.Add(name);
        Command.Ok("ip", "-n", name, "link", "set", "lo", "up");
    }

    private async Task StartKldloadAsync(string data)
    {
        _kldload = ChildProcess.Start(output, "kldload", "ip", "netns", "exec", Ns("k"), Dotnet, Bin("kldload.dll"), "serve",
            $"--urls=http://{Lan}.1:{Port}", $"--Kldload:DataDir={data}", "--Tftp:Enabled=false",
            "--Mesh:Enabled=true", $"--Mesh:Interface={Wg("k")}", "--Mesh:Topology=FullMesh", "--Mesh:Keepalive=5",
            "--Attestation:EnrollmentPolicy=Lab", "--Boot:DefaultChannel=stable");
        _children.Add(_kldload);
        await _kldload.WaitForAsync(l => l.Contains("Kldload.Host: kldload", StringComparison.Ordinal) && l.Contains(" serving on ", StringComparison.Ordinal), TimeSpan.FromSeconds(90));
        for (var i = 0; i < 100 && Command.Run("ip", "netns", "exec", Ns("k"), "curl", "-sf", $"http://{Lan}.1:{Port}/readyz").ExitCode != 0; i++)
        {
            await Task.Delay(200);
        }
    }

    private static async Task<bool> PingAsync(string ns, string address, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        do
        {
            if (Command.Run("ip", "netns", "exec", ns, "busybox", "ping", "-c", "1", "-W", "1", address).ExitCode == 0)
            {
                return true;
            }

            await Task.Delay(200);
        }
        while (clock.Elapsed < within);
        return false;
    }

    [GeneratedRegex(@"kldload\.token=(\S+)")]
    private static partial Regex TokenPattern();

    [GeneratedRegex(@"READY node=(\S+) mesh=(\S+)")]
    private static partial Regex ReadyPattern();
}

/// <summary>Runs a tool to completion.</summary>
internal static class Command
{
    public static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            p.Kill(entireProcessTree: true);
        }

        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    public static string Ok(string file, params string[] args)
    {
        var (code, text) = Run(file, args);
        Assert.True(code == 0, $"{file} {string.Join(' ', args)} exited {code}: {text}");
        return text;
    }
}

/// <summary>A long-running child (kldload, an agent, swtpm) whose lines are kept; stopped by its own PID.</summary>
internal sealed class ChildProcess
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ITestOutputHelper _output;
    private readonly string _name;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private ChildProcess(Process process, ITestOutputHelper output, string name)
    {
        _process = process;
        _output = output;
        _name = name;
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public IReadOnlyCollection<string> Lines => _lines;

    public string Output => string.Join('\n', _lines);

    public int Count(Func<string, bool> match) => _lines.Count(match);

    public static ChildProcess Start(ITestOutputHelper output, string name, string file, params string[] args) => Start(output, name, null, file, args);

    public static ChildProcess Start(ITestOutputHelper output, string name, IReadOnlyDictionary<string, string>? environment, string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }

        return new ChildProcess(Process.Start(psi)!, output, name);
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        _lines.Enqueue(line);
        try
        {
            _output.WriteLine($"[{_name} {_clock.Elapsed.TotalSeconds:0.00}] {line}");
        }
        catch (InvalidOperationException)
        {
            // the test has ended
        }
    }

    public async Task WaitForAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!_lines.Any(match))
        {
            if (_process.HasExited && !_lines.Any(match))
            {
                Assert.Fail($"{_name} exited ({_process.ExitCode}) before the expected line:\n{Output}");
            }

            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"{_name}: the expected line did not come within {timeout.TotalSeconds} s:\n{Output}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>SIGTERM to this PID (kldload removes its hub interface then), waiting up to 20 s for the exit.</summary>
    public async Task TerminateAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        Command.Run("kill", "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    public async Task StopAsync()
    {
        await TerminateAsync();
        _process.Dispose();
    }
}
