using System.Diagnostics;

namespace Kldload.Agent.Tests;

public class PublicNicFirewallTests
{
    [Fact]
    public void RenderNftables_WithListenPort_ExactRuleset()
    {
        Assert.Equal(
            """
            table inet kldload_nic
            delete table inet kldload_nic
            table inet kldload_nic {
              chain input {
                type filter hook input priority filter; policy accept;
                iifname "eth0" jump public_nic
              }
              chain public_nic {
                ct state established,related accept
                udp sport 67 udp dport 68 accept
                udp dport 51820 accept
                icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } ip6 hoplimit 255 accept
                meta l4proto tcp counter reject with tcp reset
                counter reject with icmpx admin-prohibited
              }
            }

            """.ReplaceLineEndings("\n"),
            PublicNicFirewall.RenderNftables("eth0", 51820));
    }

    [Fact]
    public void RenderNftables_NoListenPort_NoWireGuardRule() =>
        Assert.DoesNotContain("udp dport 5", PublicNicFirewall.RenderNftables("enp1s0", null), StringComparison.Ordinal);

    [Theory]
    [InlineData("eth0\" accept")]
    [InlineData("")]
    [InlineData("averyveryverylongname")]
    public void RenderNftables_NotAnInterfaceName_Throws(string name) =>
        Assert.ThrowsAny<ArgumentException>(() => PublicNicFirewall.RenderNftables(name, 51820));

    [Fact]
    public void RenderNftables_PortOutOfRange_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => PublicNicFirewall.RenderNftables("eth0", 0));
}

/// <summary>
/// The ruleset applied by nft in a network namespace made for the test (the "node"), joined by a veth
/// pair to a second one (the LAN): the LAN cannot ping the node, the node's own pings get their replies.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class PublicNicFirewallPeerTests : IDisposable
{
    private readonly string _tag = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2));
    private readonly string _node;
    private readonly string _lan;

    public PublicNicFirewallPeerTests()
    {
        _node = "klnicn" + _tag;
        _lan = "klnicl" + _tag;
        Run("ip", "netns", "add", _node);
        Run("ip", "netns", "add", _lan);
    }

    public void Dispose()
    {
        Run("ip", "netns", "del", _node);
        Run("ip", "netns", "del", _lan);
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        p.StandardInput.Close();
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    private static void Must(string file, params string[] args)
    {
        var (code, output) = Run(file, args);
        Assert.True(code == 0, $"{file} {string.Join(' ', args)}: {output}");
    }

    private bool Ping(string from, string to) =>
        Run("ip", "netns", "exec", from, "busybox", "ping", "-c", "1", "-W", "1", to).Code == 0;

    private void Link()
    {
        Must("ip", "link", "add", "eth0", "netns", _node, "type", "veth", "peer", "name", "lan0", "netns", _lan);
        Must("ip", "netns", "exec", _node, "ip", "addr", "add", "192.0.2.10/24", "dev", "eth0");
        Must("ip", "netns", "exec", _lan, "ip", "addr", "add", "192.0.2.1/24", "dev", "lan0");
        Must("ip", "netns", "exec", _node, "ip", "link", "set", "eth0", "up");
        Must("ip", "netns", "exec", _lan, "ip", "link", "set", "lan0", "up");
        // The kernel rate-limits the ICMP errors it sends to one host (about one a second after a burst
        // of six), and the refusals of the lock are such errors: with the limit on, a scan that follows
        // another sees a refused port as silent (open|filtered) at random. The test asserts what the
        // lock answers, not the kernel's limit, so the node namespace answers every probe.
        Must("ip", "netns", "exec", _node, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0");
    }

    private void Lock()
    {
        var rules = Path.GetTempFileName();
        try
        {
            File.WriteAllText(rules, PublicNicFirewall.RenderNftables("eth0", 51820));
            Must("ip", "netns", "exec", _node, "nft", "-f", rules);
        }
        finally
        {
            File.Delete(rules);
        }
    }

    /// <summary>UDP states of the node's ports as nmap sees them from the LAN: port number to state.</summary>
    private Dictionary<int, string> ScanUdp(string ports)
    {
        var (code, xml) = Run("ip", "netns", "exec", _lan, "nmap", "-n", "-Pn", "-sU", "--reason", "-T4", "-p", ports, "-oX", "-", "192.0.2.10");
        Assert.True(code == 0, "nmap: " + xml);
        var doc = System.Xml.Linq.XDocument.Parse(xml[xml.IndexOf("<?xml", StringComparison.Ordinal)..]);
        Assert.Empty(doc.Descendants("extraports"));
        return doc.Descendants("port").ToDictionary(p => (int)p.Attribute("portid")!, p => (string)p.Element("state")!.Attribute("state")!);
    }

    /// <summary>
    /// nmap from the LAN: before the lock every UDP port without a listener is closed (the node's stack
    /// answers port unreachable); after it only the WireGuard port still reaches the stack (closed here,
    /// nothing listens in the test; open|filtered on a node, where WireGuard listens and stays silent)
    /// and every other port is filtered (refused as administratively prohibited), so a scan tells the
    /// one port apart. TCP is answered with a reset, never open.
    /// </summary>
    [Fact]
    public void Applied_NmapFromLan_OnlyTheWireGuardPortReachesTheNode()
    {
        Link();
        const string ports = "53,67,68,123,9100,51820";
        Assert.All(ScanUdp(ports), p => Assert.Equal("closed", p.Value));

        Lock();
        var udp = ScanUdp(ports);
        Assert.Equal(6, udp.Count);
        Assert.Equal("closed", udp[51820]);
        Assert.All(udp.Where(p => p.Key != 51820), p => Assert.Equal("filtered", p.Value));
        var (_, tcp) = Run("ip", "netns", "exec", _lan, "nmap", "-n", "-Pn", "-sT", "-T4", "-p", "22,80,9100", "192.0.2.10");
        Assert.Matches(@"9100/tcp\s+closed", tcp);
        Assert.DoesNotContain(" open ", tcp, StringComparison.Ordinal);
    }

    [Fact]
    public void Applied_LanPingDroppedNodeOwnTrafficAnswered()
    {
        Link();
        Assert.True(Ping(_lan, "192.0.2.10"), "the LAN reaches the node before the lockdown");

        var rules = Path.GetTempFileName();
        try
        {
            File.WriteAllText(rules, PublicNicFirewall.RenderNftables("eth0", 51820));
            Must("ip", "netns", "exec", _node, "nft", "-f", rules);
            Must("ip", "netns", "exec", _node, "nft", "-f", rules); // applying it again replaces the table
        }
        finally
        {
            File.Delete(rules);
        }

        Assert.False(Ping(_lan, "192.0.2.10"), "the LAN must not reach the node after the lockdown");
        Assert.True(Ping(_node, "192.0.2.1"), "replies to the node's own traffic are let in");
        var (_, listing) = Run("ip", "netns", "exec", _node, "nft", "list", "chain", "inet", "kldload_nic", "public_nic");
        var refused = listing.Split('\n').Single(l => l.Contains("reject with icmpx", StringComparison.Ordinal));
        Assert.DoesNotContain("counter packets 0 ", refused, StringComparison.Ordinal);
    }
}
