using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Kldload.Agent.Tests.Resident;

/// <summary>
/// What the mesh tests in network namespaces share: namespaces and children (kldload, swtpm, agents)
/// named after one random id and started here, a temp directory, kldload <c>serve</c> in a namespace
/// with its hub on wireguard-go, and a node (swtpm and the real agent) booted from it. Disposing stops
/// the children by PID (newest first), deletes the namespaces and the directory; on failure too.
/// </summary>
internal sealed partial class MeshNamespaceLab(ITestOutputHelper output, string prefix) : IAsyncDisposable
{
    /// <summary>kldload's HTTP port on its LAN address in every lab.</summary>
    public const int Port = 8080;

    private const string Dotnet = "dotnet";
    private readonly List<ChildProcess> _children = [];
    private readonly List<string> _namespaces = [];

    /// <summary>Six hex digits that make this lab's namespace and interface names unique.</summary>
    public string Id { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));

    /// <summary>The lab's temp directory (data directories, TPM state, agent state).</summary>
    public string Dir { get; } = Directory.CreateTempSubdirectory("klagent-" + prefix + "-").FullName;

    /// <summary>The namespace called <paramref name="role"/> in this lab.</summary>
    public string Ns(string role) => $"{prefix}{role}-{Id}";

    /// <summary>The WireGuard interface of <paramref name="role"/> (interface names are short: no dash).</summary>
    public string Wg(string role) => $"{prefix}{role}{Id}";

    private static string Bin(string file) => Path.Combine(AppContext.BaseDirectory, file);

    /// <summary>Creates the namespace <paramref name="name"/> (deleted on dispose) with its loopback up.</summary>
    public void Namespace(string name)
    {
        Command.Ok("ip", "netns", "add", name);
        _namespaces.Add(name);
        Command.Ok("ip", "-n", name, "link", "set", "lo", "up");
    }

    /// <summary>Starts a child that is stopped on dispose.</summary>
    public ChildProcess Start(string name, string file, params string[] args)
    {
        var child = ChildProcess.Start(output, name, file, args);
        _children.Add(child);
        return child;
    }

    /// <summary>Imports a live image of random bytes (nodes here never boot it) as <c>live</c> 1 on the channel <c>stable</c>.</summary>
    public void ImportImage(string data, params string[] settings)
    {
        var image = Directory.CreateDirectory(Path.Combine(Dir, "image")).FullName;
        File.WriteAllBytes(Path.Combine(image, "kernel"), RandomNumberGenerator.GetBytes(4096));
        File.WriteAllBytes(Path.Combine(image, "initrd"), RandomNumberGenerator.GetBytes(4096));
        Command.Ok(Dotnet, [Bin("kldload.dll"), "image", "import", image, "--name", "live", "--version", "1", "--channel", "stable", $"--Kldload:DataDir={data}", .. settings]);
    }

    /// <summary>
    /// Runs <c>kldload serve</c> in <paramref name="ns"/> on <c>http://<paramref name="lan"/>.1:8080</c> with its
    /// hub on <paramref name="hub"/> (lab enrollment, the default channel <c>stable</c>, keepalive 5 s) and
    /// waits until it serves and is ready.
    /// </summary>
    public async Task<ChildProcess> StartKldloadAsync(string name, string ns, string lan, string data, string hub, params string[] settings)
    {
        var kldload = Start(name, "ip", ["netns", "exec", ns, Dotnet, Bin("kldload.dll"), "serve",
            $"--urls=http://{lan}.1:{Port}", $"--Kldload:DataDir={data}", "--Tftp:Enabled=false",
            "--Mesh:Enabled=true", $"--Mesh:Interface={hub}", "--Mesh:Keepalive=5",
            "--Attestation:EnrollmentPolicy=Lab", "--Boot:DefaultChannel=stable", .. settings]);
        await kldload.WaitForAsync(l => l.Contains("Kldload.Host: kldload", StringComparison.Ordinal) && l.Contains(" serving on ", StringComparison.Ordinal), TimeSpan.FromSeconds(90));
        for (var i = 0; i < 100 && Command.Run("ip", "netns", "exec", ns, "curl", "-sf", $"http://{lan}.1:{Port}/readyz").ExitCode != 0; i++)
        {
            await Task.Delay(200);
        }

        return kldload;
    }

    /// <summary>A node that reached Ready and is resident: its id and mesh address, its agent and its swtpm.</summary>
    public sealed record Node(string Id, string Mesh, ChildProcess Agent, ChildProcess Tpm);

    /// <summary>
    /// Boots a node in <paramref name="ns"/> from the kldload on <paramref name="lan"/>: swtpm on
    /// <paramref name="tpmPort"/> (and the next port for control) with its state in <paramref name="tpmState"/>,
    /// the boot script's token for the MAC of <c>lan0</c>, then the agent (state in <paramref name="agentState"/>,
    /// WireGuard on <paramref name="iface"/>, userspace) until its control channel is up.
    /// </summary>
    public async Task<Node> BootNodeAsync(string name, string ns, string lan, string tpmState, int tpmPort, string agentState, string iface)
    {
        var swtpm = Start($"swtpm-{name}", "ip", "netns", "exec", ns, "swtpm", "socket", "--tpm2",
            "--server", $"type=tcp,port={tpmPort},bindaddr=127.0.0.1", "--ctrl", $"type=tcp,port={tpmPort + 1},bindaddr=127.0.0.1",
            "--tpmstate", $"dir={tpmState}", "--flags", "not-need-init,startup-clear");
        var mac = Command.Ok("ip", "-n", ns, "-o", "link", "show", "lan0").Split("link/ether ")[1].Split(' ')[0];
        string? script = null;
        for (var i = 0; i < 50 && script is null; i++)
        {
            var r = Command.Run("ip", "netns", "exec", ns, "curl", "-sf", $"http://{lan}.1:{Port}/boot.ipxe?mac={mac}");
            script = r.ExitCode == 0 ? r.Output : null;
            if (script is null)
            {
                await Task.Delay(200);
            }
        }

        var token = TokenPattern().Match(script ?? "").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(token), script);
        var cmdline = Path.Combine(agentState, "cmdline");
        File.WriteAllText(cmdline, $"console=ttyS0 kldload.server=http://{lan}.1:{Port} kldload.token={token}\n");
        var agent = ChildProcess.Start(output, $"agent-{name}", new Dictionary<string, string>
        {
            ["KLDLOAD_AGENT_STATE"] = agentState,
            ["KLDLOAD_AGENT_INTERFACE"] = iface,
            ["KLDLOAD_AGENT_TPM"] = $"swtpm:127.0.0.1:{tpmPort}",
            ["KLDLOAD_AGENT_WIREGUARD"] = "userspace",
        }, "ip", "netns", "exec", ns, Dotnet, Bin("kldload-agent.dll"), cmdline);
        _children.Add(agent);
        await agent.WaitForAsync(l => l.Contains("resident: control channel", StringComparison.Ordinal), TimeSpan.FromSeconds(120));
        var ready = ReadyPattern().Match(agent.Output).Groups;
        return new Node(ready[1].Value, ready[2].Value, agent, swtpm);
    }

    /// <summary>Pings <paramref name="address"/> from <paramref name="ns"/> until one answer comes or <paramref name="within"/> has passed.</summary>
    public static async Task<bool> PingAsync(string ns, string address, TimeSpan within)
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

    public async ValueTask DisposeAsync()
    {
        foreach (var child in Enumerable.Reverse(_children))
        {
            await child.StopAsync();
        }

        foreach (var ns in _namespaces)
        {
            Command.Run("ip", "netns", "del", ns);
        }

        Directory.Delete(Dir, recursive: true);
    }

    [GeneratedRegex(@"kldload\.token=(\S+)")]
    private static partial Regex TokenPattern();

    [GeneratedRegex(@"READY node=(\S+) mesh=(\S+)")]
    private static partial Regex ReadyPattern();
}
