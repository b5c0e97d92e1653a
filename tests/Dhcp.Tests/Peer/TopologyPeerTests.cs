using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Tests.Peer;

/// <summary>Relayed and proxy topologies: dhcrelay in a third namespace; dnsmasq owning addresses beside kldload in proxy mode.</summary>
[Trait("Tier", "Peer")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TopologyPeerTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task Dhcrelay_ClientBehindRelay_GetsAddressFromGiaddrSubnetAndOption82IsStored()
    {
        // server ns --(10.X.0.0/24)-- relay ns (the lab's client ns) --(10.X.1.0/24)-- leaf ns
        using var lab = new NetworkLab();
        var leafNs = $"kldL{lab.Id}";
        var relayDown = $"kd{lab.Id}r";
        var leafIf = $"kd{lab.Id}l";
        lab.AddNamespace(leafNs);
        NetworkLab.Ip("link", "add", relayDown, "netns", lab.ClientNs, "type", "veth", "peer", "name", leafIf, "netns", leafNs);
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", $"{lab.Prefix}.0.2/24", "dev", lab.ClientIf);
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", $"{lab.Prefix}.1.1/24", "dev", relayDown);
        NetworkLab.IpIn(lab.ClientNs, "link", "set", relayDown, "up");
        NetworkLab.IpIn(leafNs, "link", "set", leafIf, "up");
        NetworkLab.IpIn(lab.ServerNs, "route", "add", $"{lab.Prefix}.1.0/24", "via", $"{lab.Prefix}.0.2");

        var data = Path.Combine(lab.TempDir, "var");
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, data,
        [
            .. KldloadServer.FullMode(lab),
            $"--Dhcp:Subnets:1:Network={lab.Prefix}.1.0/24", $"--Dhcp:Subnets:1:PoolStart={lab.Prefix}.1.100",
            $"--Dhcp:Subnets:1:PoolEnd={lab.Prefix}.1.150", $"--Dhcp:Subnets:1:Router={lab.Prefix}.1.1",
        ]);
        var relay = lab.Start(lab.ClientNs, "dhcrelay", "-d", "-4", "-a", "--no-pid", "-iu", lab.ClientIf, "-id", relayDown, $"{lab.Prefix}.0.1");
        await relay.WaitForOutputAsync(new Regex("Sending on|Listening on"), Bounded);

        var (code, output) = await lab.RunAsync(leafNs, Bounded, "dhclient", "-1", "-v", "-lf", Path.Combine(lab.TempDir, "leaf.leases"),
            "-pf", Path.Combine(lab.TempDir, "leaf.pid"), "-sf", "/bin/true", leafIf);
        Assert.True(code == 0, output + "\n" + relay.Output);
        Assert.True(output.Contains($"DHCPACK of {lab.Prefix}.1.100 from ", StringComparison.Ordinal), output + "\n" + relay.Output + "\n" + server.Process.Output);
        await server.Process.WaitForOutputAsync(new Regex($@"Ack {Regex.Escape(lab.Prefix)}\.1\.100 file '' to {Regex.Escape(lab.Prefix)}\.1\.1:67"), Bounded);

        server.Process.Kill();
        using var store = LiteDbLeaseStore.Open(Path.Combine(data, "leases.db"));
        var lease = Assert.Single(store.LoadAll());
        Assert.Equal($"{lab.Prefix}.1.1", lease.RelayAddress.ToString());
        Assert.True(RelayAgentInformation.TryRead(lease.RelayAgentInformation, out var info));
        Assert.Equal(relayDown, Encoding.ASCII.GetString(info.CircuitId!));
    }

    [Fact]
    public async Task Proxy_DnsmasqOwnsAddresses_PxeClientGetsAddressFromDnsmasqAndBootFileFromKldload()
    {
        // One segment: a bridge in the server ns joins kldload (on the bridge), dnsmasq (own ns) and the client.
        using var lab = new NetworkLab();
        var dnsmasqNs = $"kldD{lab.Id}";
        var bridge = $"kd{lab.Id}b";
        var toDnsmasq = $"kd{lab.Id}x";
        var dnsmasqIf = $"kd{lab.Id}d";
        lab.AddNamespace(dnsmasqNs);
        NetworkLab.IpIn(lab.ServerNs, "addr", "flush", "dev", lab.ServerIf);
        NetworkLab.IpIn(lab.ServerNs, "link", "add", bridge, "type", "bridge");
        NetworkLab.IpIn(lab.ServerNs, "link", "set", lab.ServerIf, "master", bridge);
        NetworkLab.Ip("link", "add", toDnsmasq, "netns", lab.ServerNs, "type", "veth", "peer", "name", dnsmasqIf, "netns", dnsmasqNs);
        NetworkLab.IpIn(lab.ServerNs, "link", "set", toDnsmasq, "master", bridge);
        NetworkLab.IpIn(lab.ServerNs, "link", "set", toDnsmasq, "up");
        NetworkLab.IpIn(lab.ServerNs, "addr", "add", $"{lab.Prefix}.0.1/24", "dev", bridge);
        NetworkLab.IpIn(lab.ServerNs, "link", "set", bridge, "up");
        NetworkLab.IpIn(dnsmasqNs, "addr", "add", $"{lab.Prefix}.0.3/24", "dev", dnsmasqIf);
        NetworkLab.IpIn(dnsmasqNs, "link", "set", dnsmasqIf, "up");

        var leaseFile = Path.Combine(lab.TempDir, "dnsmasq.leases");
        var dnsmasq = lab.Start(dnsmasqNs, "dnsmasq", "-k", "--conf-file=/dev/null", "--port=0", $"--interface={dnsmasqIf}", "--bind-interfaces",
            $"--dhcp-range={lab.Prefix}.0.50,{lab.Prefix}.0.90,255.255.255.0,1h", $"--dhcp-leasefile={leaseFile}", "--dhcp-authoritative",
            "--no-ping", "--log-dhcp", "--log-facility=-", $"--pid-file={Path.Combine(lab.TempDir, "dnsmasq.pid")}");
        await dnsmasq.WaitForOutputAsync(new Regex("DHCP, IP range"), Bounded);
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"),
            "--Dhcp:Mode=Proxy", $"--Dhcp:Interface={bridge}");

        // Wait for the bridge to forward (its ports leave the listening state).
        await Task.Delay(TimeSpan.FromSeconds(1));
        using var client = NetworkLab.CreateUdpSocketIn(lab.ClientNs);
        client.SetRawSocketOption(1, 25, Encoding.ASCII.GetBytes(lab.ClientIf + "\0"));
        client.EnableBroadcast = true;
        client.Bind(new IPEndPoint(IPAddress.Any, 68));
        var mac = new byte[] { 0x52, 0x54, 0x00, 0xab, 0xcd, (byte)Random.Shared.Next(256) };
        var macText = string.Join(':', mac.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));

        // PXE DISCOVER (PXE 2.1 section 2.2.1): vendor class, arch 0 (BIOS), NDI, UUID, parameter list.
        var discover = PxeMessage(DhcpMessageType.Discover, mac, 0x5eed0001);
        var replies = await ExchangeAsync(client, discover, new IPEndPoint(IPAddress.Broadcast, 67), 2, TimeSpan.FromSeconds(8));
        var fromDnsmasq = replies.Single(r => r.Options.GetAddress(DhcpOptionCode.ServerIdentifier) == Ipv4Address.Parse($"{lab.Prefix}.0.3"));
        var fromKldload = replies.Single(r => r.Options.GetAddress(DhcpOptionCode.ServerIdentifier) == Ipv4Address.Parse($"{lab.Prefix}.0.1"));
        Assert.Equal(Ipv4Address.Any, fromKldload.YourAddress);
        Assert.Equal("undionly.kpxe", fromKldload.BootFile);
        Assert.Equal("PXEClient", fromKldload.Options.GetString(DhcpOptionCode.VendorClassIdentifier));
        Assert.Equal(PxeVendorOptions.DiscoveryControlBits.UseBootFileName, PxeVendorOptions.ReadDiscoveryControl(fromKldload.Options.Get(DhcpOptionCode.VendorSpecific)!));
        var address = fromDnsmasq.YourAddress;
        Assert.InRange(address.Value, Ipv4Address.Parse($"{lab.Prefix}.0.50").Value, Ipv4Address.Parse($"{lab.Prefix}.0.90").Value);

        // REQUEST the address from dnsmasq; the proxy stays silent.
        var request = PxeMessage(DhcpMessageType.Request, mac, 0x5eed0002);
        request.Options.SetAddress(DhcpOptionCode.ServerIdentifier, Ipv4Address.Parse($"{lab.Prefix}.0.3"));
        request.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, address);
        var ack = Assert.Single(await ExchangeAsync(client, request, new IPEndPoint(IPAddress.Broadcast, 67), 1, TimeSpan.FromSeconds(5)));
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.Equal(address, ack.YourAddress);

        // With its address, the client asks the boot service on port 4011 (PXE 2.1 section 2.2.5).
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", $"{address}/24", "dev", lab.ClientIf);
        var bootRequest = PxeMessage(DhcpMessageType.Request, mac, 0x5eed0003);
        bootRequest.ClientAddress = address;
        var bootAck = Assert.Single(await ExchangeAsync(client, bootRequest, new IPEndPoint(IPAddress.Parse($"{lab.Prefix}.0.1"), 4011), 1, TimeSpan.FromSeconds(5)));
        Assert.Equal(DhcpMessageType.Ack, bootAck.Options.MessageType);
        Assert.Equal("undionly.kpxe", bootAck.BootFile);

        Assert.Contains(macText, await File.ReadAllTextAsync(leaseFile), StringComparison.Ordinal);
        Assert.DoesNotContain("Dhcp", server.Process.Output.Split('\n').Where(l => l.Contains("ERR", StringComparison.Ordinal)), StringComparer.Ordinal);
    }

    [Fact]
    public async Task Serve_DhcpPortAlreadyBound_ExitsTwoNamingDhcpPort()
    {
        using var lab = new NetworkLab();
        await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var1"), KldloadServer.FullMode(lab));
        var second = lab.Start(lab.ServerNs, Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
            [Path.Combine(AppContext.BaseDirectory, "kldload.dll"), "serve", "--urls", "http://127.0.0.1:0", "--Tftp:Enabled=false",
             $"--Kldload:DataDir={Path.Combine(lab.TempDir, "var2")}", .. KldloadServer.FullMode(lab)]);
        await second.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, second.ExitCode);
        Assert.Contains("Dhcp:Port = '67'", second.Output, StringComparison.Ordinal);
    }

    private static DhcpMessage PxeMessage(DhcpMessageType type, byte[] mac, uint xid)
    {
        var m = new DhcpMessage { TransactionId = xid, IsBroadcast = true };
        mac.CopyTo(m.ClientHardwareAddress, 0);
        m.Options.MessageType = type;
        m.Options.SetUInt16(DhcpOptionCode.MaximumMessageSize, 1472);
        m.Options.SetUInt16(DhcpOptionCode.ClientArchitecture, 0);
        m.Options.Set(DhcpOptionCode.ClientNetworkInterfaceId, [1, 2, 1]);
        m.Options.SetString(DhcpOptionCode.VendorClassIdentifier, "PXEClient:Arch:00000:UNDI:002001");
        m.Options.Set(DhcpOptionCode.ClientMachineId, [0, .. Guid.NewGuid().ToByteArray()]);
        m.Options.Set(DhcpOptionCode.ParameterRequestList, [1, 3, 6, 43, 60, 66, 67]);
        return m;
    }

    private static async Task<List<DhcpMessage>> ExchangeAsync(Socket socket, DhcpMessage request, IPEndPoint to, int expected, TimeSpan timeout)
    {
        await socket.SendToAsync(request.ToArray(), SocketFlags.None, to);
        var replies = new List<DhcpMessage>();
        var buffer = new byte[1500];
        using var cts = new CancellationTokenSource(timeout);
        while (replies.Count < expected)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (DhcpMessage.TryRead(buffer.AsSpan(0, r.ReceivedBytes), out var m, out _) && m.Op == BootOp.BootReply && m.TransactionId == request.TransactionId)
            {
                replies.Add(m);
            }
        }

        return replies;
    }
}
