using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Kldload.Dhcp.Dhcp6.Leases;
using Kldload.Dhcp.Dhcp6.Protocol;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Peer;

/// <summary>
/// DHCPv6 against the real <c>kldload serve</c> in namespaces: ISC dhclient -6 obtains and releases an
/// address, perfdhcp -6 puts load on it, and a client behind ISC dhcrelay -6 is served from the relay's
/// link. (busybox here has no udhcpc6.)
/// </summary>
[Trait("Tier", "Peer")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class Dhcp6PeerTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(40);

    /// <summary>A dhclient-script that only adds the IPv6 address (never touches /etc/resolv.conf of the host).</summary>
    private const string Dhclient6Script = """
        #!/bin/sh
        case "$reason" in
          BOUND6|RENEW6|REBIND6|REBOOT6) ip -6 addr add "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" nodad 2>/dev/null || true ;;
          RELEASE6|EXPIRE6|STOP6) ip -6 addr del "$old_ip6_address/$old_ip6_prefixlen" dev "$interface" 2>/dev/null || true ;;
        esac
        exit 0
        """;

    /// <summary>The lab's IPv6 prefix (unique per lab): <c>fd6b:ID:N::/64</c>.</summary>
    private static string Prefix(NetworkLab lab, int link) => $"fd6b:{lab.Id}:{link}::";

    /// <summary>An address of the lab's link <paramref name="link"/> as <c>ip</c> and kldload print it (canonical text).</summary>
    private static string Address(NetworkLab lab, int link, int host) => IPAddress.Parse($"{Prefix(lab, link)}{host:x}").ToString();

    private static string[] FullMode(NetworkLab lab, int poolStart = 0x100, int poolEnd = 0x1ff) =>
    [
        "--Dhcp6:Mode=Full", $"--Dhcp6:Interface={lab.ServerIf}",
        $"--Dhcp6:Subnets:0:Prefix={Prefix(lab, 0)}/64", $"--Dhcp6:Subnets:0:PoolStart={Prefix(lab, 0)}{poolStart:x}",
        $"--Dhcp6:Subnets:0:PoolEnd={Prefix(lab, 0)}{poolEnd:x}", $"--Dhcp6:Subnets:0:DnsServers:0={Prefix(lab, 0)}1",
    ];

    private static Task<KldloadServer> StartAsync(NetworkLab lab, string data, string[] settings) =>
        KldloadServer.StartAsync(lab, lab.ServerNs, data, Dhcp6Listening(), settings);

    private static string Metric(string metrics, string name) =>
        new Regex($@"^{Regex.Escape(name)} (\S+)$", RegexOptions.Multiline).Match(metrics) is { Success: true } m
            ? m.Groups[1].Value
            : throw new Xunit.Sdk.XunitException($"no metric {name} in:\n{metrics}");

    [Fact]
    public async Task Dhclient6_ObtainsAnAddressFromThePool_ThenReleasesIt()
    {
        using var lab = new NetworkLab();
        NetworkLab.EnableIpv6(lab.ServerNs, lab.ServerIf, $"{Prefix(lab, 0)}1/64");
        NetworkLab.EnableIpv6(lab.ClientNs, lab.ClientIf, null);
        var data = Path.Combine(lab.TempDir, "var");
        var server = await StartAsync(lab, data, FullMode(lab));
        var script = ClientPeerTests.WriteScript(lab, "dhclient6-script", Dhclient6Script);
        string[] files = ["-lf", Path.Combine(lab.TempDir, "dhclient6.leases"), "-pf", Path.Combine(lab.TempDir, "dhclient6.pid"), "-sf", script];

        var (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "dhclient", ["-6", "-1", "-v", .. files, lab.ClientIf]);
        Assert.True(code == 0, output + "\n" + server.Process.Output);
        var address = Address(lab, 0, 0x100);
        var (_, shown) = await lab.RunAsync(lab.ClientNs, Bounded, "ip", "-6", "addr", "show", "dev", lab.ClientIf);
        Assert.Contains(address + "/128", shown, StringComparison.Ordinal);
        await server.Process.WaitForOutputAsync(new Regex($@"DHCPv6 Request from \S+: Reply {Regex.Escape(address)} "), Bounded);

        var metrics = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.Equal("1", Metric(metrics, "kldload_dhcp6_leases_active"));
        Assert.Equal("1", Metric(metrics, "kldload_dhcp6_packets_received_total{type=\"solicit\"}"));
        Assert.Equal("1", Metric(metrics, "kldload_dhcp6_packets_sent_total{type=\"advertise\"}"));
        Assert.Equal("1", Metric(metrics, "kldload_dhcp6_packets_sent_total{type=\"reply\"}"));

        // The operator sees the lease: `kldload leases list6` over the admin API, with the MAC from the DUID-LLT.
        var (_, clientMac) = await lab.RunAsync(lab.ClientNs, Bounded, "cat", $"/sys/class/net/{lab.ClientIf}/address");
        var (listed, list6) = await server.CliAsync(lab, lab.ServerNs, "leases", "list6", "--json");
        Assert.True(listed == 0, list6);
        using (var page = System.Text.Json.JsonDocument.Parse(list6))
        {
            Assert.Equal(1, page.RootElement.GetProperty("total").GetInt32());
            var shown6 = page.RootElement.GetProperty("leases")[0];
            Assert.Equal(address, shown6.GetProperty("address").GetString());
            Assert.Equal("Active", shown6.GetProperty("state").GetString());
            Assert.Equal(clientMac.Trim(), shown6.GetProperty("mac").GetString());
        }

        var (status, body) = await server.ApiAsync(lab, lab.ServerNs, "GET", "/api/v1/leases6?state=Bogus");
        Assert.Equal(422, status);
        Assert.Contains("Declined", body, StringComparison.Ordinal);

        // Release: dhclient stops its daemon and sends RELEASE; the binding is given up.
        (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "dhclient", ["-6", "-r", "-v", .. files, lab.ClientIf]);
        Assert.True(code == 0, output);
        await server.Process.WaitForOutputAsync(new Regex(@"DHCPv6 Release from \S+: Reply"), Bounded);
        metrics = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.Equal("0", Metric(metrics, "kldload_dhcp6_leases_active"));

        // The journal alone holds the lease, released, with the client's MAC read from its DUID-LLT.
        await Task.Delay(TimeSpan.FromSeconds(1));
        server.Process.Kill();
        var (_, link) = await lab.RunAsync(lab.ClientNs, Bounded, "cat", $"/sys/class/net/{lab.ClientIf}/address");
        using var store = Dhcp6LeaseJournalStore.Open(Path.Combine(data, "leases6.journal"));
        var lease = Assert.Single(store.LoadAll());
        Assert.Equal(IPAddress.Parse(address), lease.Address);
        Assert.Equal(DhcpLeaseState.Released, lease.State);
        Assert.Equal(link.Trim(), lease.HardwareAddress);
    }

    [Fact]
    public async Task Perfdhcp6_SolicitRequestLoad_EveryExchangeAnswered()
    {
        using var lab = new NetworkLab();
        NetworkLab.EnableIpv6(lab.ServerNs, lab.ServerIf, $"{Prefix(lab, 0)}1/64");
        NetworkLab.EnableIpv6(lab.ClientNs, lab.ClientIf, $"{Prefix(lab, 0)}2/64");
        var server = await StartAsync(lab, Path.Combine(lab.TempDir, "var"), FullMode(lab, 0x1000, 0x1fff));

        var (code, output) = await lab.RunAsync(lab.ClientNs, TimeSpan.FromSeconds(60), "perfdhcp",
            "-6", "-l", lab.ClientIf, "-r", "100", "-R", "150", "-p", "4", "-W", "2000000");
        Assert.True(code == 0, output);
        var advertise = PerfStats(output, "SOLICIT-ADVERTISE");
        var reply = PerfStats(output, "REQUEST-REPLY");
        Assert.True(advertise.Sent > 200, output);
        Assert.Equal(0, advertise.Drops);
        Assert.Equal(0, reply.Drops);
        Assert.Equal(0, advertise.Rejected + reply.Rejected);
        Assert.Equal(reply.Sent, reply.Received);
        Assert.Contains("Malformed packets: 0", output, StringComparison.Ordinal);

        // perfdhcp's clients reuse 150 DUIDs: each holds one binding, however many exchanges it made.
        var metrics = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.Equal("150", Metric(metrics, "kldload_dhcp6_leases_active"));
        Assert.Equal(reply.Received.ToString(System.Globalization.CultureInfo.InvariantCulture), Metric(metrics, "kldload_dhcp6_packets_sent_total{type=\"reply\"}"));
    }

    /// <summary>
    /// Issue 21's durability on IPv6, as the DHCPv4 journal test does it: perfdhcp -6 (SOLICIT, ADVERTISE,
    /// REQUEST, REPLY) from 220 DUIDs into a pool of 241 addresses, kldload killed with SIGKILL in the
    /// middle of it and started again from its journal; a second run with the same DUIDs. Every REPLY
    /// tcpdump saw granting an address is in leases6.journal with that client, and no address was ever
    /// granted to two clients.
    /// </summary>
    [Fact]
    public async Task Perfdhcp6_KillDashNineMidRunAndRestart_NoRepliedLeaseLostNorGrantedTwice()
    {
        using var lab = new NetworkLab();
        NetworkLab.EnableIpv6(lab.ServerNs, lab.ServerIf, $"{Prefix(lab, 0)}1/64");
        NetworkLab.EnableIpv6(lab.ClientNs, lab.ClientIf, $"{Prefix(lab, 0)}2/64");
        var data = Path.Combine(lab.TempDir, "var");
        var settings = FullMode(lab, 0x10, 0x100);
        var server = await StartAsync(lab, data, settings);
        var pcap = Path.Combine(lab.TempDir, "replies6.pcap");
        var tcpdump = lab.Start(lab.ClientNs, "tcpdump", "-i", lab.ClientIf, "-U", "-n", "-w", pcap, "udp", "port", "546");
        await tcpdump.WaitForOutputAsync(new Regex("listening on"), TimeSpan.FromSeconds(20));

        string[] Perf(int seconds) => ["-6", "-l", lab.ClientIf, "-r", "150", "-R", "220", "-p", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "-W", "2000000"];
        var load = lab.Start(lab.ClientNs, "perfdhcp", Perf(6));
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        server.Process.Kill();
        var restarted = await StartAsync(lab, data, settings);
        await load.WaitForExitAsync(TimeSpan.FromSeconds(60));

        var (code, output) = await lab.RunAsync(lab.ClientNs, TimeSpan.FromSeconds(60), "perfdhcp", Perf(3));
        Assert.True(code == 0, output);
        Assert.Equal(0, PerfStats(output, "REQUEST-REPLY").Rejected);

        tcpdump.Signal("INT");
        await tcpdump.WaitForExitAsync(TimeSpan.FromSeconds(20));
        restarted.Process.Kill();

        var grants = PcapReplies.ReadDhcp6(pcap)
            .Where(m => m.MessageType == Dhcp6MessageType.Reply && m.Options.ClientId is not null)
            .SelectMany(m => m.Options.IaNas.SelectMany(ia => ia.Options.IaAddresses).Where(a => a.ValidLifetime > 0).Select(a => (a.Address, Client: m.Options.ClientId!.ToString())))
            .ToList();
        Assert.True(grants.Count > 300, $"only {grants.Count} granting REPLYs captured");
        var doubled = grants.GroupBy(g => g.Address).Where(g => g.Select(x => x.Client).Distinct().Count() > 1).ToList();
        Assert.True(doubled.Count == 0, "granted to two clients: " + string.Join("; ", doubled.Select(g => $"{g.Key}: {string.Join(",", g.Select(x => x.Client).Distinct())}")));

        using var store = Dhcp6LeaseJournalStore.Open(Path.Combine(data, "leases6.journal"));
        var leases = store.LoadAll().ToDictionary(l => l.Address);
        foreach (var (address, client) in grants.Distinct())
        {
            Assert.True(leases.TryGetValue(address, out var lease), $"{address} replied to {client} is not in leases6.journal");
            Assert.Equal(client, lease.ClientDuid);
            Assert.Equal(DhcpLeaseState.Active, lease.State);
        }
    }

    [Fact]
    public async Task Dhcrelay6_ClientBehindTheRelay_IsServedFromTheRelaysLink_WithItsInterfaceId()
    {
        // server ns --(link 0)-- relay ns (the lab's client ns) --(link 1)-- leaf ns
        using var lab = new NetworkLab();
        var leafNs = $"kldL{lab.Id}";
        var relayDown = $"kd{lab.Id}r";
        var leafIf = $"kd{lab.Id}l";
        lab.AddNamespace(leafNs);
        NetworkLab.Ip("link", "add", relayDown, "netns", lab.ClientNs, "type", "veth", "peer", "name", leafIf, "netns", leafNs);
        NetworkLab.EnableIpv6(lab.ServerNs, lab.ServerIf, $"{Prefix(lab, 0)}1/64");
        NetworkLab.EnableIpv6(lab.ClientNs, lab.ClientIf, $"{Prefix(lab, 0)}2/64");
        NetworkLab.EnableIpv6(lab.ClientNs, relayDown, $"{Prefix(lab, 1)}1/64");
        NetworkLab.EnableIpv6(leafNs, leafIf, null);

        var data = Path.Combine(lab.TempDir, "var");
        var server = await StartAsync(lab, data,
        [
            .. FullMode(lab),
            $"--Dhcp6:Subnets:1:Prefix={Prefix(lab, 1)}/64", $"--Dhcp6:Subnets:1:PoolStart={Prefix(lab, 1)}100", $"--Dhcp6:Subnets:1:PoolEnd={Prefix(lab, 1)}1ff",
        ]);
        var relay = lab.Start(lab.ClientNs, "dhcrelay", "-6", "-d", "--no-pid", "-I", "-l", relayDown, "-u", $"{Prefix(lab, 0)}1%{lab.ClientIf}");
        await relay.WaitForOutputAsync(new Regex("Sending on|Listening on"), Bounded);

        var script = ClientPeerTests.WriteScript(lab, "dhclient6-script", Dhclient6Script);
        var (code, output) = await lab.RunAsync(leafNs, Bounded, "dhclient", "-6", "-1", "-v", "-lf", Path.Combine(lab.TempDir, "leaf.leases"),
            "-pf", Path.Combine(lab.TempDir, "leaf.pid"), "-sf", script, leafIf);
        Assert.True(code == 0, output + "\n" + relay.Output + "\n" + server.Process.Output);
        var address = Address(lab, 1, 0x100);
        var (_, shown) = await lab.RunAsync(leafNs, Bounded, "ip", "-6", "addr", "show", "dev", leafIf);
        Assert.Contains(address + "/128", shown, StringComparison.Ordinal);
        await server.Process.WaitForOutputAsync(new Regex($@"DHCPv6 Request from \S+: Reply {Regex.Escape(address)} .* to \[?{Regex.Escape(Address(lab, 0, 2))}\]?:547"), Bounded);
        var metrics = await server.MetricsAsync(lab, lab.ServerNs);
        // SOLICIT and REQUEST came wrapped, and went back wrapped (a retransmission adds to both).
        var forwarded = int.Parse(Metric(metrics, "kldload_dhcp6_packets_received_total{type=\"relayforward\"}"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(forwarded >= 2, metrics);
        Assert.Equal(forwarded.ToString(System.Globalization.CultureInfo.InvariantCulture), Metric(metrics, "kldload_dhcp6_packets_sent_total{type=\"relayreply\"}"));

        await lab.RunAsync(leafNs, Bounded, "dhclient", "-6", "-x", "-lf", Path.Combine(lab.TempDir, "leaf.leases"), "-pf", Path.Combine(lab.TempDir, "leaf.pid"), leafIf);
        server.Process.Kill();
        using var store = Dhcp6LeaseJournalStore.Open(Path.Combine(data, "leases6.journal"));
        var lease = Assert.Single(store.LoadAll());
        Assert.Equal(IPAddress.Parse(address), lease.Address);
        Assert.Equal(IPAddress.Parse($"{Prefix(lab, 1)}1"), lease.RelayLinkAddress);
        // ISC dhcrelay -I sends 4 bytes of its own number for the downstream interface (not the kernel's
        // ifindex) and routes the RELAY-REPL by it: the leaf got its address, so kldload echoed it back.
        Assert.True(lease.InterfaceId is { Length: 4 } id && id.Any(b => b != 0), Convert.ToHexString(lease.InterfaceId ?? []));
    }

    [Fact]
    public async Task UefiPxeSolicit_GetsTftpUrlOverIpv6_AndTheLoaderDownloadsOverTftp6()
    {
        using var lab = new NetworkLab();
        NetworkLab.EnableIpv6(lab.ServerNs, lab.ServerIf, $"{Prefix(lab, 0)}1/64");
        NetworkLab.EnableIpv6(lab.ClientNs, lab.ClientIf, null);
        var root = Directory.CreateDirectory(Path.Combine(lab.TempDir, "tftp")).FullName;
        var loader = new byte[150_000];
        Random.Shared.NextBytes(loader);
        await File.WriteAllBytesAsync(Path.Combine(root, "snponly.efi"), loader);
        await StartAsync(lab, Path.Combine(lab.TempDir, "var"),
            [.. FullMode(lab), "--Tftp:Enabled=true", "--Tftp:Endpoint=[::]:69", $"--Tftp:Root={root}"]);

        // What OVMF's PXE driver sends for an IPv6 boot (RFC 5970): arch 7, the PXEClient vendor class
        // (enterprise 343), and a request for the boot file URL and parameters; from its link-local
        // address to ff02::1:2 on the wire.
        var solicit = new Dhcp6Message { MessageType = Dhcp6MessageType.Solicit, TransactionId = 0x5eb007 };
        solicit.Options.Add(Dhcp6OptionCode.ClientId, Duid.FromMac([0x52, 0x54, 0x00, 0x6b, 0x00, 0x07]).Bytes);
        solicit.Options.Add(Dhcp6OptionCode.IaNa, new IaNa { Iaid = 7 }.ToArray());
        solicit.Options.Add(Dhcp6OptionCode.OptionRequest, Dhcp6Options.UInt16List([59, 60, 23, 24]));
        solicit.Options.Add(Dhcp6OptionCode.ClientArchitecture, Dhcp6Options.UInt16List([7]));
        solicit.Options.Add(Dhcp6OptionCode.VendorClass,
            new VendorClass(343, ["PXEClient:Arch:00007:UNDI:003016"u8.ToArray()]).ToArray());
        var (_, ifindex) = await lab.RunAsync(lab.ClientNs, Bounded, "cat", $"/sys/class/net/{lab.ClientIf}/ifindex");
        using var socket = NetworkLab.CreateUdp6SocketIn(lab.ClientNs);
        socket.Bind(new IPEndPoint(IPAddress.IPv6Any, Dhcp6Engine.ClientPort));
        var group = new IPAddress(Dhcp6Engine.AllRelayAgentsAndServers.GetAddressBytes(), long.Parse(ifindex.Trim(), System.Globalization.CultureInfo.InvariantCulture));
        var server6 = new IPEndPoint(group, Dhcp6Engine.ServerPort);
        var advertise = await ExchangeAsync(socket, solicit, server6);
        Assert.Equal(Dhcp6MessageType.Advertise, advertise.MessageType);
        Assert.Equal(0x5eb007u, advertise.TransactionId);
        Assert.Equal(Address(lab, 0, 0x100), advertise.Options.IaNas[0].Options.IaAddresses[0].Address.ToString());
        // No PXEClient in a full answer: with it, EDK2 would ask a boot server on UDP 4011 for the file again.
        Assert.Null(advertise.Options.VendorClass);
        var url = new Uri(advertise.Options.BootFileUrl!);
        Assert.Equal($"tftp://[{Address(lab, 0, 1)}]/snponly.efi", url.OriginalString);

        // REQUEST the advertised address, as the firmware does, and configure it with the link's prefix
        // (on-link, as the router's advertisement would say).
        var request = new Dhcp6Message { MessageType = Dhcp6MessageType.Request, TransactionId = 0x5eb008 };
        foreach (var (option, data) in solicit.Options.All)
        {
            request.Options.Add(option, option == Dhcp6OptionCode.IaNa ? advertise.Options.Get(Dhcp6OptionCode.IaNa)! : data);
        }

        request.Options.Add(Dhcp6OptionCode.ServerId, advertise.Options.Get(Dhcp6OptionCode.ServerId)!);
        var reply = await ExchangeAsync(socket, request, server6);
        Assert.Equal(Dhcp6MessageType.Reply, reply.MessageType);
        Assert.Equal(url.OriginalString, reply.Options.BootFileUrl);
        var address = reply.Options.IaNas[0].Options.IaAddresses[0].Address.ToString();
        Assert.Equal(Address(lab, 0, 0x100), address);
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", address + "/64", "dev", lab.ClientIf, "nodad");

        // The URL works: tftp-hpa fetches it over IPv6 from kldload's dual-stack TFTP listener.
        var fetched = Path.Combine(lab.TempDir, "fetched.efi");
        var (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "tftp", "-6", "-m", "binary", url.Host.Trim('[', ']'), "-c", "get", url.AbsolutePath.TrimStart('/'), fetched);
        Assert.True(code == 0 && File.Exists(fetched), output);
        var got = await File.ReadAllBytesAsync(fetched);
        Assert.True(loader.SequenceEqual(got), $"tftp -6 fetched {got.Length} other bytes: {output}");
    }

    /// <summary>Sends <paramref name="message"/> until an answer with its transaction id arrives (firmware retransmits the same way).</summary>
    private static async Task<Dhcp6Message> ExchangeAsync(Socket socket, Dhcp6Message message, IPEndPoint server)
    {
        var buffer = new byte[2048];
        using var deadline = new CancellationTokenSource(Bounded);
        while (true)
        {
            await socket.SendToAsync(message.ToArray(), server, deadline.Token);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
            wait.CancelAfter(TimeSpan.FromSeconds(2));
            try
            {
                while (true)
                {
                    var n = await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token);
                    if (Dhcp6Message.TryRead(buffer.AsSpan(0, n), out var answer, out _) && answer.TransactionId == message.TransactionId)
                    {
                        return answer;
                    }
                }
            }
            catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
            {
                // Lost under load: send again.
            }
        }
    }

    private static (long Sent, long Received, long Drops, long Rejected) PerfStats(string output, string exchange)
    {
        var block = output[output.IndexOf("Statistics for: " + exchange, StringComparison.Ordinal)..];
        long Read(string name) => long.Parse(new Regex(name + @": (\d+)").Match(block).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        return (Read("sent packets"), Read("received packets"), Read("drops"), Read("rejected leases"));
    }

    [GeneratedRegex(@"DHCPv6 (Full|Proxy) on \S+ port 547")]
    private static partial Regex Dhcp6Listening();
}
