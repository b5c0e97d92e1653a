using System.Net;
using System.Text.RegularExpressions;
using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Testing.Postgres;
using Npgsql;
using Xunit.Abstractions;

namespace Kldload.Dhcp.Tests.Peer;

/// <summary>
/// Two real <c>kldload serve</c> processes on one segment and one PostgreSQL database, as RFC 3074
/// load-balancing Primary and Secondary, under perfdhcp load; one is killed with SIGKILL mid-run.
/// The segment is a bridge in a namespace of its own with three veth pairs: one to each server's
/// namespace and one to perfdhcp's. The servers reach PostgreSQL through its Unix socket.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class LoadBalancingPeerTests(PostgresFixture postgres, ITestOutputHelper log) : IClassFixture<PostgresFixture>
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Perfdhcp_TwentyThousandClientsKillDashNineThePrimary_SecondaryTakesItsHalfAndNoAddressIsGrantedTwice()
    {
        using var lab = new NetworkLab();
        var (primaryNs, secondaryNs, clientNs) = (lab.ServerNs, $"kldB{lab.Id}", lab.ClientNs);
        var (primaryIf, secondaryIf, clientIf) = ($"lb{lab.Id}p", $"lb{lab.Id}s", $"lb{lab.Id}c");
        BuildSegment(lab, secondaryNs, [(primaryNs, primaryIf, "1"), (secondaryNs, secondaryIf, "2"), (clientNs, clientIf, "3")]);

        var connectionString = postgres.CreateDatabase();
        var viaSocket = new NpgsqlConnectionStringBuilder(connectionString) { Host = postgres.Cluster.SocketDirectory }.ConnectionString;
        string[] Settings(string iface, string role) =>
        [
            "--Dhcp:Mode=Full", $"--Dhcp:Interface={iface}",
            $"--Dhcp:Subnets:0:Network={lab.Prefix}.0.0/16", $"--Dhcp:Subnets:0:PoolStart={lab.Prefix}.1.0",
            $"--Dhcp:Subnets:0:PoolEnd={lab.Prefix}.255.250", $"--Dhcp:Subnets:0:Router={lab.Prefix}.0.1",
            "--Database:Provider=PostgreSql", $"--Database:ConnectionString={viaSocket}",
            $"--Mesh:CaKeyFile={Path.Combine(lab.TempDir, "ca.key")}", // one key opens the mesh CA both share
            $"--Dhcp:LoadBalancing={role}", $"--Dhcp:PeerTimeout={PeerTimeout:c}",
            "--Kldload:LogLevel=Information", // per-packet debug lines would slow both servers down
        ];

        var primary = await KldloadServer.StartAsync(lab, primaryNs, Path.Combine(lab.TempDir, "a"), Settings(primaryIf, "Primary"));
        var secondary = await KldloadServer.StartAsync(lab, secondaryNs, Path.Combine(lab.TempDir, "b"), Settings(secondaryIf, "Secondary"));
        await secondary.Process.WaitForOutputAsync(LoadBalancingAs("Secondary", "alive"), TimeSpan.FromSeconds(10));
        await primary.Process.WaitForOutputAsync(PeerBack("Secondary"), TimeSpan.FromSeconds(10));

        var pcap = Path.Combine(lab.TempDir, "replies.pcap");
        var tcpdump = lab.Start(clientNs, "tcpdump", "-i", clientIf, "-U", "-n", "-w", pcap, "udp", "dst", "port", "67", "and", "src", "port", "67");
        await tcpdump.WaitForOutputAsync(new Regex("listening on"), TimeSpan.FromSeconds(20));

        // 20,000 clients (perfdhcp draws each exchange's MAC from a range of that size), 300 exchanges a second for 24 s.
        var load = lab.Start(clientNs, "perfdhcp", "-4", "-l", clientIf, "-r", "300", "-R", "20000", "-p", "24", "-W", "2000000", "-u");
        await Task.Delay(TimeSpan.FromSeconds(8));
        primary.Process.Kill();
        var sinceKill = System.Diagnostics.Stopwatch.StartNew();
        // The secondary takes over within the peer timeout, plus one beat and a margin for a loaded machine.
        await secondary.Process.WaitForOutputAsync(PeerSilent("Primary"), PeerTimeout + TimeSpan.FromSeconds(1) + TimeSpan.FromSeconds(4));
        log.WriteLine($"take-over seen {sinceKill.Elapsed.TotalSeconds:F1} s after the kill (peer timeout {PeerTimeout.TotalSeconds} s)");
        await load.WaitForExitAsync(TimeSpan.FromSeconds(90));
        tcpdump.Signal("INT");
        await tcpdump.WaitForExitAsync(TimeSpan.FromSeconds(20));
        var metrics = await secondary.MetricsAsync(lab, secondaryNs);
        secondary.Process.Kill();
        log.WriteLine(load.Output);
        // It left the primary's clients alone while the primary lived, and after the take-over it knew
        // every lease the primary had acknowledged (reloaded): the shared table refused none of its grants.
        Assert.Matches(@"kldload_dhcp_dropped_total\{reason=""PeerClient""\} [1-9]", metrics);
        Assert.Contains("kldload_dhcp_dropped_total{reason=\"LeaseConflict\"} 0", metrics, StringComparison.Ordinal);
        Assert.Contains("kldload_dhcp_peer_alive 0", metrics, StringComparison.Ordinal);

        var output = load.Output;
        Assert.Contains("Statistics for: REQUEST-ACK", output, StringComparison.Ordinal);
        var captured = PcapReplies.Read(pcap);
        var acks = captured.Where(m => m.Op == BootOp.BootReply && m.Options.MessageType == DhcpMessageType.Ack).ToList();
        // A client's bucket is the hash of what it sent (perfdhcp sends option 61: 01 and the MAC), not of the reply.
        var bucketOf = captured.Where(m => m.Op == BootOp.BootRequest).GroupBy(m => m.HardwareAddressText).ToDictionary(g => g.Key, g => ClientHash.Of(g.First()));
        bool Lower(DhcpMessage ack) => bucketOf[ack.HardwareAddressText] < 128;
        var primaryAddress = Ipv4Address.Parse($"{lab.Prefix}.0.1");
        var secondaryAddress = Ipv4Address.Parse($"{lab.Prefix}.0.2");
        var byPrimary = acks.Where(a => a.Options.GetAddress(DhcpOptionCode.ServerIdentifier) == primaryAddress).ToList();
        var bySecondary = acks.Where(a => a.Options.GetAddress(DhcpOptionCode.ServerIdentifier) == secondaryAddress).ToList();
        Assert.True(byPrimary.Count > 300 && bySecondary.Count > 600, $"{byPrimary.Count} ACKs from the primary, {bySecondary.Count} from the secondary:\n{output}");
        Assert.Equal(acks.Count, byPrimary.Count + bySecondary.Count);
        log.WriteLine($"{acks.Count} ACKs: {byPrimary.Count} from the primary, {bySecondary.Count} from the secondary ({bySecondary.Count(Lower)} to the primary's clients)");

        // The primary (all its ACKs precede the kill) answered its half of the clients from its half of the free addresses.
        Assert.All(byPrimary, a => Assert.True(Lower(a) && (a.YourAddress.Value & 1) == 0, $"primary ACKed {a.YourAddress} to {a.HardwareAddressText}"));
        // After it, the secondary answered the primary's clients too.
        Assert.Contains(bySecondary, Lower);

        // No address went to two MACs.
        var doubled = acks.GroupBy(a => a.YourAddress).Where(g => g.Select(a => a.HardwareAddressText).Distinct().Count() > 1).ToList();
        Assert.True(doubled.Count == 0, "granted to two MACs: " + string.Join("; ", doubled.Select(g => $"{g.Key}: {string.Join(",", g.Select(a => a.HardwareAddressText).Distinct())}")));
        Assert.True(output.Contains("non unique addresses: 0", StringComparison.Ordinal), output);

        // Every acknowledged lease, the primary's included, is in the shared table with its MAC.
        var leases = await ReadLeasesAsync(connectionString);
        foreach (var ack in acks)
        {
            Assert.True(leases.TryGetValue(ack.YourAddress, out var lease), $"{ack.YourAddress} acknowledged to {ack.HardwareAddressText} is not in dhcp_leases");
            Assert.Equal(ack.HardwareAddressText, lease.Mac);
            Assert.Equal(1, lease.State);
        }
    }

    /// <summary>
    /// Creates <paramref name="secondaryNs"/> and a bridge in a namespace of its own, then a veth pair
    /// from the bridge to each member, addressed 10.X.0.N/16. The lab deletes every namespace it made.
    /// </summary>
    private static void BuildSegment(NetworkLab lab, string secondaryNs, IReadOnlyList<(string Ns, string Iface, string Host)> members)
    {
        // The lab's own veth pair is not used: both servers and the client share the bridge instead.
        NetworkLab.IpIn(lab.ServerNs, "link", "del", lab.ServerIf);
        lab.AddNamespace(secondaryNs);
        var hub = $"kldX{lab.Id}";
        lab.AddNamespace(hub);
        NetworkLab.IpIn(hub, "link", "add", "br0", "type", "bridge");
        NetworkLab.IpIn(hub, "link", "set", "br0", "up");
        foreach (var (ns, iface, host) in members)
        {
            var port = iface + "b";
            NetworkLab.Ip("link", "add", iface, "netns", ns, "type", "veth", "peer", "name", port, "netns", hub);
            NetworkLab.IpIn(hub, "link", "set", port, "master", "br0");
            NetworkLab.IpIn(hub, "link", "set", port, "up");
            NetworkLab.IpIn(ns, "addr", "add", $"{lab.Prefix}.0.{host}/16", "dev", iface);
            NetworkLab.IpIn(ns, "link", "set", iface, "up");
        }
    }

    private static async Task<Dictionary<Ipv4Address, (string Mac, int State)>> ReadLeasesAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT address, hardware_address, state FROM dhcp_leases", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var leases = new Dictionary<Ipv4Address, (string, int)>();
        while (await reader.ReadAsync())
        {
            leases.Add(Ipv4Address.FromIPAddress(reader.GetFieldValue<IPAddress>(0)), (reader.GetString(1), reader.GetInt16(2)));
        }

        return leases;
    }

    private static Regex LoadBalancingAs(string role, string peerState) => new($"DHCP load balancing as {role} on segment \\S+: peer {peerState}");

    private static Regex PeerBack(string peer) => new($"DHCP peer {peer} alive");

    private static Regex PeerSilent(string peer) => new($"DHCP peer {peer} silent for more than");
}
