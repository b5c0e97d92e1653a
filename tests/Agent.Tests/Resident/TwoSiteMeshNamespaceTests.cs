using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Kldload.Testing.Postgres;
using Npgsql;
using Xunit.Abstractions;

namespace Kldload.Agent.Tests.Resident;

/// <summary>
/// Issue 17 without VMs: two provisioners (the real <c>kldload serve</c>, each with its hub on
/// wireguard-go) in two network namespaces, sites A and B, each with its own boot LAN (a bridge), joined
/// by a routed link, on one private PostgreSQL cluster (reached through its Unix socket, which crosses
/// namespaces). Two real agents with swtpm: n1 on A's LAN, n2 on B's, under hub and spoke.
/// <list type="number">
/// <item>B's live event stream (<c>/api/v1/events/stream</c>) is open before n1 attests through A, and
/// carries n1's events.</item>
/// <item>n1 and n2 ping each other: n1 → hub A → hub B → n2, the hubs peered through the database.</item>
/// <item>n1's cable moves to B's LAN (same MAC, swtpm restarted: a reboot) and it attests through B:
/// the same node id, mesh address and WireGuard key; hub A now routes n1 through hub B, and n1 and n2
/// still ping each other.</item>
/// </list>
/// Every address is inside the namespaces, which are deleted at the end (on failure too).
/// </summary>
[Trait("Tier", "Peer")]
public sealed partial class TwoSiteMeshNamespaceTests(ITestOutputHelper output, PostgresFixture postgres) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private const int Port = 8080;
    private readonly string _id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly string _dir = Directory.CreateTempSubdirectory("klagent-2site-").FullName;
    private readonly List<ChildProcess> _children = [];
    private readonly List<string> _namespaces = [];

    private string Ns(string role) => $"k2{role}-{_id}";

    private string Wg(string role) => $"k2{role}{_id}";

    private static string Lan(string site) => site == "a" ? "10.81.1" : "10.81.2";

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
    public async Task TwoSitesOneDatabase_NodesReachEachOtherThroughPeeredHubs_ANodeMovingSitesKeepsItsIdentity()
    {
        // Sites: a bridge per LAN in each provisioner's namespace, a /30 between them, routes both ways.
        foreach (var site in new[] { "a", "b" })
        {
            var ns = Ns("k" + site);
            Namespace(ns);
            Command.Ok("ip", "-n", ns, "link", "add", "br0", "type", "bridge");
            Command.Ok("ip", "-n", ns, "addr", "add", $"{Lan(site)}.1/24", "dev", "br0");
            Command.Ok("ip", "-n", ns, "link", "set", "br0", "up");
        }

        Command.Ok("ip", "-n", Ns("ka"), "link", "add", "wan0", "type", "veth", "peer", "name", "wan0", "netns", Ns("kb"));
        Command.Ok("ip", "-n", Ns("ka"), "addr", "add", "10.81.255.1/30", "dev", "wan0");
        Command.Ok("ip", "-n", Ns("kb"), "addr", "add", "10.81.255.2/30", "dev", "wan0");
        Command.Ok("ip", "-n", Ns("ka"), "link", "set", "wan0", "up");
        Command.Ok("ip", "-n", Ns("kb"), "link", "set", "wan0", "up");
        Command.Ok("ip", "-n", Ns("ka"), "route", "add", $"{Lan("b")}.0/24", "via", "10.81.255.2");
        Command.Ok("ip", "-n", Ns("kb"), "route", "add", $"{Lan("a")}.0/24", "via", "10.81.255.1");
        foreach (var site in new[] { "a", "b" })
        {
            // The provisioners route between the sites for the hubs' own traffic; nodes never cross it
            // in clear (their LAN traffic stays on their bridge).
            Command.Ok("ip", "netns", "exec", Ns("k" + site), "sysctl", "-qw", "net.ipv4.ip_forward=1");
        }

        var n1 = NodeNamespace("n1");
        var n2 = NodeNamespace("n2");
        var mac = "02:81:00:00:00:11";
        Cable(n1, "a", 11, mac);
        Cable(n2, "b", 11, "02:81:00:00:00:22");

        // One database, one CA key file, two data directories (two hub keys, two instance ids).
        var cluster = postgres.Cluster;
        var connection = new NpgsqlConnectionStringBuilder(cluster.CreateDatabase("twosite")) { Host = cluster.SocketDirectory }.ConnectionString;
        var caKey = Path.Combine(_dir, "ca.key");
        var image = Directory.CreateDirectory(Path.Combine(_dir, "image")).FullName;
        File.WriteAllBytes(Path.Combine(image, "kernel"), RandomNumberGenerator.GetBytes(4096));
        File.WriteAllBytes(Path.Combine(image, "initrd"), RandomNumberGenerator.GetBytes(4096));
        var data = new Dictionary<string, string> { ["a"] = Path.Combine(_dir, "kldload-a"), ["b"] = Path.Combine(_dir, "kldload-b") };
        Command.Ok(Dotnet, Bin("kldload.dll"), "image", "import", image, "--name", "live", "--version", "1", "--channel", "stable",
            $"--Kldload:DataDir={data["a"]}", "--Database:Provider=PostgreSql", $"--Database:ConnectionString={connection}", $"--Mesh:CaKeyFile={caKey}");

        // A announces its hub to other hubs at its WAN address; B at its LAN address (the default: the
        // endpoint its nodes dial), which A reaches through the route above.
        await StartKldloadAsync("a", data["a"], connection, caKey, "--Mesh:PeerEndpoint=10.81.255.1:51820");
        await StartKldloadAsync("b", data["b"], connection, caKey);
        var hubKeyA = Command.Ok("ip", "netns", "exec", Ns("ka"), "wg", "show", Wg("ka"), "public-key").Trim();
        var hubKeyB = Command.Ok("ip", "netns", "exec", Ns("kb"), "wg", "show", Wg("kb"), "public-key").Trim();
        Assert.NotEqual(hubKeyA, hubKeyB);
        await WaitAsync(() => Command.Ok("ip", "netns", "exec", Ns("ka"), "wg", "show", Wg("ka"), "endpoints").Contains(hubKeyB + "	" + Lan("b") + ".1:51820", StringComparison.Ordinal), "hub A never peered with hub B");
        Assert.Contains(hubKeyA + "	10.81.255.1:51820", Command.Ok("ip", "netns", "exec", Ns("kb"), "wg", "show", Wg("kb"), "endpoints"), StringComparison.Ordinal);

        // B's live stream, open before anything happens on A.
        var adminB = File.ReadAllText(Path.Combine(data["b"], "admin.token")).Trim();
        var streamB = ChildProcess.Start(output, "events-b", "ip", "netns", "exec", Ns("kb"), "curl", "-sN", "-H", $"Authorization: Bearer {adminB}",
            $"http://{Lan("b")}.1:{Port}/api/v1/events/stream");
        _children.Add(streamB);
        await streamB.WaitForAsync(l => l.Contains(": kldload events", StringComparison.Ordinal), TimeSpan.FromSeconds(30));

        // n1 through A, n2 through B.
        var first = await AttestAsync("n1", n1, "a", 1);
        var second = await AttestAsync("n2", n2, "b", 1);
        output.WriteLine($"n1 = {first.Node} {first.Mesh} via A, n2 = {second.Node} {second.Mesh} via B");
        Assert.NotEqual(first.Node, second.Node);

        await streamB.WaitForAsync(l => l.Contains(first.Node, StringComparison.Ordinal) && l.StartsWith("data:", StringComparison.Ordinal), TimeSpan.FromSeconds(30));

        // Hub A routes n2's address to hub B, and the nodes reach each other through both hubs.
        await WaitAsync(() => AllowedIpsOf(Ns("ka"), Wg("ka"), hubKeyB).Contains(second.Mesh + "/128", StringComparison.Ordinal), "hub A never routed n2 to hub B");
        Assert.True(await PingAsync(n1, second.Mesh, TimeSpan.FromSeconds(30)), "n1 (site A) cannot ping n2 (site B) through the hubs");
        Assert.True(await PingAsync(n2, first.Mesh, TimeSpan.FromSeconds(30)), "n2 (site B) cannot ping n1 (site A) through the hubs");

        // n1 moves: agent and swtpm stopped (a power-off), the cable moved to B's LAN with the same MAC.
        await first.Agent.TerminateAsync();
        await first.Tpm.TerminateAsync();
        Command.Run("ip", "-n", n1, "link", "del", Wg("n11"));
        Command.Ok("ip", "-n", n1, "link", "del", "lan0");
        Cable(n1, "b", 12, mac);
        var moved = await AttestAsync("n1", n1, "b", 2);
        output.WriteLine($"n1 = {moved.Node} {moved.Mesh} via B after the move");

        Assert.Equal(first.Node, moved.Node);
        Assert.Equal(first.Mesh, moved.Mesh);
        Assert.Equal(first.PublicKey, moved.PublicKey);

        await WaitAsync(() => AllowedIpsOf(Ns("ka"), Wg("ka"), hubKeyB).Contains(first.Mesh + "/128", StringComparison.Ordinal), "hub A never moved n1's route to hub B");
        Assert.DoesNotContain(first.PublicKey, Command.Ok("ip", "netns", "exec", Ns("ka"), "wg", "show", Wg("ka"), "peers"), StringComparison.Ordinal);
        Assert.DoesNotContain(first.Mesh + "/128", AllowedIpsOf(Ns("kb"), Wg("kb"), hubKeyA), StringComparison.Ordinal);
        Assert.True(await PingAsync(n1, second.Mesh, TimeSpan.FromSeconds(30)), "n1 cannot ping n2 after moving to site B");
    }

    private const string Dotnet = "dotnet";

    private void Namespace(string name)
    {
        Command.Ok("ip", "netns", "add", name);
        _namespaces.Add(name);
        Command.Ok("ip", "-n", name, "link", "set", "lo", "up");
    }

    private string NodeNamespace(string role)
    {
        var ns = Ns(role);
        Namespace(ns);
        return ns;
    }

    /// <summary>Plugs <paramref name="ns"/>'s <c>lan0</c> (MAC <paramref name="mac"/>) into <paramref name="site"/>'s bridge as host <paramref name="host"/>.</summary>
    private void Cable(string ns, string site, int host, string mac)
    {
        var provisioner = Ns("k" + site);
        var port = $"v{ns[2..4]}{site}";
        Command.Ok("ip", "-n", provisioner, "link", "add", port, "type", "veth", "peer", "name", "lan0", "address", mac, "netns", ns);
        Command.Ok("ip", "-n", provisioner, "link", "set", port, "master", "br0", "up");
        Command.Ok("ip", "-n", ns, "addr", "add", $"{Lan(site)}.{host}/24", "dev", "lan0");
        Command.Ok("ip", "-n", ns, "link", "set", "lan0", "up");
        Command.Ok("ip", "-n", ns, "route", "replace", "default", "via", $"{Lan(site)}.1");
    }

    private async Task StartKldloadAsync(string site, string data, string connection, string caKey, params string[] extra)
    {
        var ns = Ns("k" + site);
        var kldload = ChildProcess.Start(output, "kldload-" + site, "ip", ["netns", "exec", ns, Dotnet, Bin("kldload.dll"), "serve",
            $"--urls=http://{Lan(site)}.1:{Port}", $"--Kldload:DataDir={data}", "--Tftp:Enabled=false",
            "--Database:Provider=PostgreSql", $"--Database:ConnectionString={connection}", $"--Mesh:CaKeyFile={caKey}",
            "--Mesh:Enabled=true", $"--Mesh:Interface={Wg("k" + site)}", "--Mesh:Keepalive=5",
            "--Attestation:EnrollmentPolicy=Lab", "--Boot:DefaultChannel=stable", .. extra]);
        _children.Add(kldload);
        await kldload.WaitForAsync(l => l.Contains("Kldload.Host: kldload", StringComparison.Ordinal) && l.Contains(" serving on ", StringComparison.Ordinal), TimeSpan.FromSeconds(90));
        for (var i = 0; i < 100 && Command.Run("ip", "netns", "exec", ns, "curl", "-sf", $"http://{Lan(site)}.1:{Port}/readyz").ExitCode != 0; i++)
        {
            await Task.Delay(200);
        }
    }

    private sealed record Attested(string Node, string Mesh, string PublicKey, ChildProcess Agent, ChildProcess Tpm);

    /// <summary>Starts swtpm and the agent in <paramref name="ns"/>, booted from <paramref name="site"/>'s provisioner, until it is resident.</summary>
    /// <remarks>Each run (boot) of a node has a fresh agent state (a live image keeps nothing) and its own swtpm ports.</remarks>
    private async Task<Attested> AttestAsync(string role, string ns, string site, int run)
    {
        var state = Directory.CreateDirectory(Path.Combine(_dir, role)).FullName;
        var tpm = Directory.CreateDirectory(Path.Combine(state, "tpm")).FullName;
        var agentState = Directory.CreateDirectory(Path.Combine(state, "run" + run)).FullName;
        var tpmPort = 2311 + (10 * run);
        var swtpm = ChildProcess.Start(output, $"swtpm-{role}-{run}", "ip", "netns", "exec", ns, "swtpm", "socket", "--tpm2",
            "--server", $"type=tcp,port={tpmPort},bindaddr=127.0.0.1", "--ctrl", $"type=tcp,port={tpmPort + 1},bindaddr=127.0.0.1",
            "--tpmstate", $"dir={tpm}", "--flags", "not-need-init,startup-clear");
        _children.Add(swtpm);
        var mac = Command.Ok("ip", "-n", ns, "-o", "link", "show", "lan0").Split("link/ether ")[1].Split(' ')[0];
        string? script = null;
        for (var i = 0; i < 50 && script is null; i++)
        {
            var r = Command.Run("ip", "netns", "exec", ns, "curl", "-sf", $"http://{Lan(site)}.1:{Port}/boot.ipxe?mac={mac}");
            script = r.ExitCode == 0 ? r.Output : null;
            if (script is null)
            {
                await Task.Delay(200);
            }
        }

        var token = TokenPattern().Match(script ?? "").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(token), script);
        var cmdline = Path.Combine(agentState, "cmdline");
        File.WriteAllText(cmdline, $"console=ttyS0 kldload.server=http://{Lan(site)}.1:{Port} kldload.token={token}\n");
        var iface = Wg(role + run.ToString(CultureInfo.InvariantCulture));
        var agent = ChildProcess.Start(output, $"agent-{role}-{run}", new Dictionary<string, string>
        {
            ["KLDLOAD_AGENT_STATE"] = agentState,
            ["KLDLOAD_AGENT_INTERFACE"] = iface,
            ["KLDLOAD_AGENT_TPM"] = $"swtpm:127.0.0.1:{tpmPort}",
            ["KLDLOAD_AGENT_WIREGUARD"] = "userspace",
        }, "ip", "netns", "exec", ns, Dotnet, Bin("kldload-agent.dll"), cmdline);
        _children.Add(agent);
        await agent.WaitForAsync(l => l.Contains("resident: control channel", StringComparison.Ordinal), TimeSpan.FromSeconds(120));
        var ready = ReadyPattern().Match(agent.Output).Groups;
        var key = Command.Ok("ip", "netns", "exec", ns, "wg", "show", iface, "public-key").Trim();
        return new Attested(ready[1].Value, ready[2].Value, key, agent, swtpm);
    }

    private static string AllowedIpsOf(string ns, string iface, string peerKey) =>
        Command.Ok("ip", "netns", "exec", ns, "wg", "show", iface, "allowed-ips").Split('\n')
            .FirstOrDefault(l => l.StartsWith(peerKey, StringComparison.Ordinal)) ?? "";

    private static async Task WaitAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure + string.Create(CultureInfo.InvariantCulture, $" within 30 s"));
            await Task.Delay(100);
        }
    }

    private static async Task<bool> PingAsync(string ns, string address, TimeSpan within)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
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
