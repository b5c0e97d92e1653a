using System.Globalization;
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
public sealed class TwoSiteMeshNamespaceTests(ITestOutputHelper output, PostgresFixture postgres) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private const int Port = MeshNamespaceLab.Port;
    private readonly MeshNamespaceLab _lab = new(output, "k2");

    private string Ns(string role) => _lab.Ns(role);

    private string Wg(string role) => _lab.Wg(role);

    private static string Lan(string site) => site == "a" ? "10.81.1" : "10.81.2";

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _lab.DisposeAsync().AsTask();

    [Fact]
    public async Task TwoSitesOneDatabase_NodesReachEachOtherThroughPeeredHubs_ANodeMovingSitesKeepsItsIdentity()
    {
        // Sites: a bridge per LAN in each provisioner's namespace, a /30 between them, routes both ways.
        foreach (var site in new[] { "a", "b" })
        {
            var ns = Ns("k" + site);
            _lab.Namespace(ns);
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
        var caKey = Path.Combine(_lab.Dir, "ca.key");
        var data = new Dictionary<string, string> { ["a"] = Path.Combine(_lab.Dir, "kldload-a"), ["b"] = Path.Combine(_lab.Dir, "kldload-b") };
        _lab.ImportImage(data["a"], "--Database:Provider=PostgreSql", $"--Database:ConnectionString={connection}", $"--Mesh:CaKeyFile={caKey}");

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
        var streamB = _lab.Start("events-b", "ip", "netns", "exec", Ns("kb"), "curl", "-sN", "-H", $"Authorization: Bearer {adminB}",
            $"http://{Lan("b")}.1:{Port}/api/v1/events/stream");
        await streamB.WaitForAsync(l => l.Contains(": kldload events", StringComparison.Ordinal), TimeSpan.FromSeconds(30));

        // n1 through A, n2 through B.
        var first = await AttestAsync("n1", n1, "a", 1);
        var second = await AttestAsync("n2", n2, "b", 1);
        output.WriteLine($"n1 = {first.Node} {first.Mesh} via A, n2 = {second.Node} {second.Mesh} via B");
        Assert.NotEqual(first.Node, second.Node);

        await streamB.WaitForAsync(l => l.Contains(first.Node, StringComparison.Ordinal) && l.StartsWith("data:", StringComparison.Ordinal), TimeSpan.FromSeconds(30));

        // Hub A routes n2's address to hub B, and the nodes reach each other through both hubs.
        await WaitAsync(() => AllowedIpsOf(Ns("ka"), Wg("ka"), hubKeyB).Contains(second.Mesh + "/128", StringComparison.Ordinal), "hub A never routed n2 to hub B");
        Assert.True(await MeshNamespaceLab.PingAsync(n1, second.Mesh, TimeSpan.FromSeconds(30)), "n1 (site A) cannot ping n2 (site B) through the hubs");
        Assert.True(await MeshNamespaceLab.PingAsync(n2, first.Mesh, TimeSpan.FromSeconds(30)), "n2 (site B) cannot ping n1 (site A) through the hubs");

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
        Assert.True(await MeshNamespaceLab.PingAsync(n1, second.Mesh, TimeSpan.FromSeconds(30)), "n1 cannot ping n2 after moving to site B");
    }

    private string NodeNamespace(string role)
    {
        var ns = Ns(role);
        _lab.Namespace(ns);
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

    private Task<ChildProcess> StartKldloadAsync(string site, string data, string connection, string caKey, params string[] extra) =>
        _lab.StartKldloadAsync("kldload-" + site, Ns("k" + site), Lan(site), data, Wg("k" + site),
            ["--Database:Provider=PostgreSql", $"--Database:ConnectionString={connection}", $"--Mesh:CaKeyFile={caKey}", .. extra]);

    private sealed record Attested(string Node, string Mesh, string PublicKey, ChildProcess Agent, ChildProcess Tpm);

    /// <summary>Starts swtpm and the agent in <paramref name="ns"/>, booted from <paramref name="site"/>'s provisioner, until it is resident.</summary>
    /// <remarks>Each run (boot) of a node has a fresh agent state (a live image keeps nothing) and its own swtpm ports.</remarks>
    private async Task<Attested> AttestAsync(string role, string ns, string site, int run)
    {
        var state = Directory.CreateDirectory(Path.Combine(_lab.Dir, role)).FullName;
        var tpm = Directory.CreateDirectory(Path.Combine(state, "tpm")).FullName;
        var agentState = Directory.CreateDirectory(Path.Combine(state, "run" + run)).FullName;
        var iface = Wg(role + run.ToString(CultureInfo.InvariantCulture));
        var node = await _lab.BootNodeAsync($"{role}-{run}", ns, Lan(site), tpm, 2311 + (10 * run), agentState, iface);
        var key = Command.Ok("ip", "netns", "exec", ns, "wg", "show", iface, "public-key").Trim();
        return new Attested(node.Id, node.Mesh, key, node.Agent, node.Tpm);
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
}
