using System.Text.RegularExpressions;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Peer;

/// <summary>perfdhcp (Kea's load generator; it always acts as a relay) against the real kldload binary.</summary>
[Trait("Tier", "Peer")]
public sealed partial class LoadPeerTests
{
    private static string[] Perfdhcp(NetworkLab lab, int rate, int clients, int seconds) =>
        ["-4", "-l", lab.ClientIf, "-r", rate.ToString(System.Globalization.CultureInfo.InvariantCulture),
         "-R", clients.ToString(System.Globalization.CultureInfo.InvariantCulture),
         "-p", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "-W", "2000000"];

    private static (long Sent, long Received, long Drops, long Rejected) Stats(string output, string exchange)
    {
        var block = output[output.IndexOf("Statistics for: " + exchange, StringComparison.Ordinal)..];
        long Read(string name) => long.Parse(new Regex(name + @": (\d+)").Match(block).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        return (Read("sent packets"), Read("received packets"), Read("drops"), Read("rejected leases"));
    }

    [Fact]
    public async Task Perfdhcp_ShortDoraLoadThroughRelayPath_ZeroErrors()
    {
        using var lab = new NetworkLab();
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"), KldloadServer.FullMode(lab, "10", "250"));
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", $"{lab.Prefix}.0.2/24", "dev", lab.ClientIf);

        var (code, output) = await lab.RunAsync(lab.ClientNs, TimeSpan.FromSeconds(60), "perfdhcp", Perfdhcp(lab, 200, 200, 4));
        Assert.True(code == 0, output);
        var offers = Stats(output, "DISCOVER-OFFER");
        var acks = Stats(output, "REQUEST-ACK");
        Assert.True(offers.Sent > 500, output);
        Assert.Equal(0, offers.Drops);
        Assert.Equal(0, acks.Drops);
        Assert.Equal(0, offers.Rejected + acks.Rejected);
        Assert.Equal(acks.Sent, acks.Received);
        Assert.Contains("Malformed packets: 0", output, StringComparison.Ordinal);

        var metrics = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.Contains("kldload_dhcp_leases_active 200", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Perfdhcp_KillDashNineMidRunAndRestartFromJournalAlone_NoAddressEverGrantedToTwoMacs()
    {
        using var lab = new NetworkLab();
        var data = Path.Combine(lab.TempDir, "var");
        var settings = KldloadServer.FullMode(lab, "10", "250");
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, data, settings);
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", $"{lab.Prefix}.0.2/24", "dev", lab.ClientIf);
        var pcap = Path.Combine(lab.TempDir, "replies.pcap");
        var tcpdump = lab.Start(lab.ClientNs, "tcpdump", "-i", lab.ClientIf, "-U", "-n", "-w", pcap, "udp", "port", "67");
        await tcpdump.WaitForOutputAsync(new Regex("listening on"), TimeSpan.FromSeconds(20));

        // First run: 220 MACs share a pool of 241, so a lost lease would soon be handed to another MAC.
        var load = lab.Start(lab.ClientNs, "perfdhcp", Perfdhcp(lab, 300, 220, 6));
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        server.Process.Kill();
        server.DeleteLeaseDatabase(); // the restart has only the journal to go on
        var restarted = await KldloadServer.StartAsync(lab, lab.ServerNs, data, settings);
        await load.WaitForExitAsync(TimeSpan.FromSeconds(60));

        // Second run after the restart: the same MACs come back (perfdhcp's MACs derive from a fixed base).
        var (code, output) = await lab.RunAsync(lab.ClientNs, TimeSpan.FromSeconds(60), "perfdhcp", Perfdhcp(lab, 300, 220, 3));
        Assert.True(code == 0, output);
        Assert.Equal(0, Stats(output, "REQUEST-ACK").Rejected);

        tcpdump.Signal("INT");
        await tcpdump.WaitForExitAsync(TimeSpan.FromSeconds(20));
        restarted.Process.Kill();

        var acks = PcapReplies.Read(pcap).Where(m => m.Op == BootOp.BootReply && m.Options.MessageType == DhcpMessageType.Ack).ToList();
        Assert.True(acks.Count > 300, $"only {acks.Count} ACKs captured");
        var doubled = acks.GroupBy(a => a.YourAddress).Where(g => g.Select(a => a.HardwareAddressText).Distinct().Count() > 1).ToList();
        Assert.True(doubled.Count == 0, "granted to two MACs: " + string.Join("; ", doubled.Select(g => $"{g.Key}: {string.Join(",", g.Select(a => a.HardwareAddressText).Distinct())}")));

        // Every address a client was told it holds is in the store, with that client. perfdhcp runs
        // exchanges of one MAC side by side, and across the restart the new server knows none of the old
        // one's offers, so a MAC can be acknowledged a second address; granting it releases the first
        // (one client, one address). So the last address each MAC was acknowledged is active, and an
        // earlier one may be released, but never lost and never another MAC's.
        using var store = LiteDbLeaseStore.Open(Path.Combine(data, "leases.db"));
        var leases = store.LoadAll().ToDictionary(l => l.Address);
        var lastAck = new Dictionary<string, Ipv4Address>();
        foreach (var ack in acks)
        {
            Assert.True(leases.TryGetValue(ack.YourAddress, out var lease), $"{ack.YourAddress} acknowledged to {ack.HardwareAddressText} is not in the store");
            Assert.Equal(ack.HardwareAddressText, lease.HardwareAddress);
            lastAck[ack.HardwareAddressText] = ack.YourAddress;
        }

        foreach (var (mac, address) in lastAck)
        {
            Assert.True(leases[address].State == DhcpLeaseState.Active, $"{address}, the last address acknowledged to {mac}, is {leases[address].State} in the store");
        }
    }
}
