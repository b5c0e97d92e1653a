using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Kldload.Dhcp.Tests.Peer;

/// <summary>
/// Leases an operator can see, and reservations by rack position, against the real <c>kldload serve</c>
/// with dhclient, busybox udhcpc and ISC dhcrelay in namespaces; the admin API through curl and the
/// <c>kldload leases</c> command line.
/// </summary>
[Trait("Tier", "Peer")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LeasePeerTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(40);

    private static void SetMac(string ns, string iface, string mac)
    {
        NetworkLab.IpIn(ns, "link", "set", iface, "down");
        NetworkLab.IpIn(ns, "link", "set", iface, "address", mac);
        NetworkLab.IpIn(ns, "link", "set", iface, "up");
    }

    private static string Mac(NetworkLab lab, int last) => $"52:54:00:{lab.Octet:x2}:{Convert.ToInt32(lab.Id[..2], 16):x2}:{last:x2}";

    private static string PoolMetric(string metrics, string subnet, string state) =>
        new Regex($@"^kldload_dhcp_pool_addresses\{{subnet=""{Regex.Escape(subnet)}"",state=""{state}""\}} (\S+)$", RegexOptions.Multiline).Match(metrics) is { Success: true } m
            ? m.Groups[1].Value
            : throw new Xunit.Sdk.XunitException($"no pool metric {subnet} {state} in:\n{metrics}");

    [Fact]
    public async Task LeasesApiAndCli_PoolOfOne_ReleaseReturnsTheAddressAndPoolMetricsMatch()
    {
        using var lab = new NetworkLab();
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"), KldloadServer.FullMode(lab, "100", "100"));
        var address = $"{lab.Prefix}.0.100";
        var subnet = $"{lab.Prefix}.0.0/24";
        var macA = Mac(lab, 0xa1);
        var macB = Mac(lab, 0xb2);

        // Client A: udhcpc as a PXE client (so the inventory records it as a node); it exits holding the lease.
        SetMac(lab.ClientNs, lab.ClientIf, macA);
        var udhcpcScript = ClientPeerTests.WriteScript(lab, "udhcpc-script", ClientPeerTests.UdhcpcScript);
        var (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "udhcpc", "-q", "-f", "-n", "-i", lab.ClientIf, "-s", udhcpcScript,
            "-t", "5", "-T", "2", "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "93:0000");
        Assert.True(code == 0, output);
        Assert.Contains($"lease of {address} obtained", output, StringComparison.Ordinal);

        var metrics = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.Equal(("1", "0", "0"), (PoolMetric(metrics, subnet, "active"), PoolMetric(metrics, subnet, "free"), PoolMetric(metrics, subnet, "offered")));

        // The pool passed 90 %: one warning (when the address was offered or acknowledged, whichever
        // the monitor saw first: it fires once and re-arms only below 90 %).
        await server.Process.WaitForOutputAsync(new Regex($@"DHCP pool ""?{Regex.Escape(subnet)}""? is 100% used \(1 of 1: "), Bounded);

        // Client B (another MAC on the same wire) finds the pool of one taken.
        SetMac(lab.ClientNs, lab.ClientIf, macB);
        (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "udhcpc", "-q", "-f", "-n", "-i", lab.ClientIf, "-s", udhcpcScript, "-t", "2", "-T", "1");
        Assert.True(code != 0, output);
        await server.Process.WaitForOutputAsync(new Regex($@"DHCP Discover from {Regex.Escape(macB)} not answered: PoolExhausted"), Bounded);

        // The CLI lists the lease with its node (recorded in the background: wait for it).
        JsonElement lease = default;
        for (var tries = 0; tries < 20; tries++)
        {
            (code, output) = await server.CliAsync(lab, lab.ServerNs, "leases", "list", "--json", "--subnet", subnet);
            Assert.True(code == 0, output);
            using var page = JsonDocument.Parse(output);
            Assert.Equal(1, page.RootElement.GetProperty("total").GetInt32());
            lease = page.RootElement.GetProperty("leases")[0].Clone();
            if (lease.GetProperty("nodeId").ValueKind == JsonValueKind.String)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }

        Assert.Equal(address, lease.GetProperty("address").GetString());
        Assert.Equal(macA, lease.GetProperty("mac").GetString());
        Assert.Equal("Active", lease.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.String, lease.GetProperty("nodeId").ValueKind);
        var nodeId = lease.GetProperty("nodeId").GetString()!;

        // The table form names the address and the MAC.
        (code, output) = await server.CliAsync(lab, lab.ServerNs, "leases", "show", address);
        Assert.True(code == 0, output);
        Assert.Contains(macA, output, StringComparison.Ordinal);
        Assert.Contains("Active", output, StringComparison.Ordinal);

        // Filters: another subnet has none; a bad state is refused naming the allowed ones.
        var (status, body) = await server.ApiAsync(lab, lab.ServerNs, "GET", $"/api/v1/leases?subnet={lab.Prefix}.1.0/24");
        Assert.Equal(200, status);
        Assert.Equal(0, JsonDocument.Parse(body).RootElement.GetProperty("total").GetInt32());
        (status, body) = await server.ApiAsync(lab, lab.ServerNs, "GET", "/api/v1/leases?state=bogus");
        Assert.Equal(422, status);
        Assert.Contains("Declined", body, StringComparison.Ordinal);

        // Release through the CLI: the address is back in the pool and the node's history says who did it.
        (code, output) = await server.CliAsync(lab, lab.ServerNs, "leases", "release", address, "--json");
        Assert.True(code == 0, output);
        Assert.Equal("Released", JsonDocument.Parse(output).RootElement.GetProperty("state").GetString());
        (status, _) = await server.ApiAsync(lab, lab.ServerNs, "DELETE", $"/api/v1/leases/{address}");
        Assert.Equal(409, status);
        (status, body) = await server.ApiAsync(lab, lab.ServerNs, "GET", $"/api/v1/nodes/{nodeId}/events");
        Assert.Equal(200, status);
        var release = JsonDocument.Parse(body).RootElement.EnumerateArray().Single(e => e.GetProperty("message").GetString()!.Contains("released", StringComparison.Ordinal));
        Assert.Contains($"{address} ({macA})", release.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("admin", release.GetProperty("actor").GetString());

        metrics = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.Equal(("0", "1"), (PoolMetric(metrics, subnet, "active"), PoolMetric(metrics, subnet, "free")));

        // Client B, now with dhclient, gets the released address.
        var dhclientScript = ClientPeerTests.WriteScript(lab, "dhclient-script", ClientPeerTests.DhclientScript);
        string[] files = ["-lf", Path.Combine(lab.TempDir, "b.leases"), "-pf", Path.Combine(lab.TempDir, "b.pid"), "-sf", dhclientScript];
        (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "dhclient", ["-1", "-v", .. files, lab.ClientIf]);
        try
        {
            Assert.True(code == 0, output);
            Assert.Contains($"bound to {address}", output, StringComparison.Ordinal);
            (status, body) = await server.ApiAsync(lab, lab.ServerNs, "GET", $"/api/v1/leases?mac={macB}&state=Active");
            Assert.Equal(200, status);
            var b = Assert.Single(JsonDocument.Parse(body).RootElement.GetProperty("leases").EnumerateArray());
            Assert.Equal(address, b.GetProperty("address").GetString());
            metrics = await server.MetricsAsync(lab, lab.ServerNs);
            Assert.Equal(("1", "0"), (PoolMetric(metrics, subnet, "active"), PoolMetric(metrics, subnet, "free")));
        }
        finally
        {
            await lab.RunAsync(lab.ClientNs, Bounded, "dhclient", ["-x", .. files, lab.ClientIf]);
        }
    }

    [Fact]
    public async Task Dhcrelay_TwoMacsOnOneReservedCircuit_GetTheSameAddressOneAfterTheOther()
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

        // dhcrelay -a names the port a request came in on by its interface: the circuit id is relayDown.
        var reserved = $"{lab.Prefix}.1.57";
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"),
        [
            .. KldloadServer.FullMode(lab),
            $"--Dhcp:Subnets:1:Network={lab.Prefix}.1.0/24", $"--Dhcp:Subnets:1:PoolStart={lab.Prefix}.1.100",
            $"--Dhcp:Subnets:1:PoolEnd={lab.Prefix}.1.150", $"--Dhcp:Subnets:1:Router={lab.Prefix}.1.1",
            $"--Dhcp:Reservations:0:CircuitId={relayDown}", $"--Dhcp:Reservations:0:Address={reserved}", "--Dhcp:Reservations:0:Hostname=r12s7",
        ]);
        var relay = lab.Start(lab.ClientNs, "dhcrelay", "-d", "-4", "-a", "--no-pid", "-iu", lab.ClientIf, "-id", relayDown, $"{lab.Prefix}.0.1");
        await relay.WaitForOutputAsync(new Regex("Sending on|Listening on"), Bounded);

        foreach (var (mac, name) in new[] { (Mac(lab, 0xa1), "a"), (Mac(lab, 0xb2), "b") })
        {
            // The machine in the slot is swapped: the old one is gone without releasing its lease.
            SetMac(leafNs, leafIf, mac);
            string[] files = ["-lf", Path.Combine(lab.TempDir, $"{name}.leases"), "-pf", Path.Combine(lab.TempDir, $"{name}.pid"), "-sf", "/bin/true"];
            var (code, output) = await lab.RunAsync(leafNs, Bounded, "dhclient", ["-1", "-v", .. files, leafIf]);
            await lab.RunAsync(leafNs, Bounded, "dhclient", ["-x", .. files, leafIf]);
            Assert.True(code == 0, output + "\n" + relay.Output);
            Assert.True(output.Contains($"DHCPACK of {reserved} from ", StringComparison.Ordinal), output + "\n" + relay.Output + "\n" + server.Process.Output);

            var (status, body) = await server.ApiAsync(lab, lab.ServerNs, "GET", $"/api/v1/leases/{reserved}");
            Assert.Equal(200, status);
            var lease = JsonDocument.Parse(body).RootElement;
            Assert.Equal(mac, lease.GetProperty("mac").GetString());
            Assert.Equal("Active", lease.GetProperty("state").GetString());
            Assert.Equal(relayDown, lease.GetProperty("circuitId").GetString());
            Assert.Equal($"{lab.Prefix}.1.1", lease.GetProperty("relayAddress").GetString());
            Assert.Equal($"circuit-id {relayDown}", lease.GetProperty("reservation").GetString());
            Assert.Equal("r12s7", lease.GetProperty("hostName").GetString());
        }

        // The reserved address never came from the pool, and no pool address was used.
        var metrics = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.Equal("0", PoolMetric(metrics, $"{lab.Prefix}.1.0/24", "active"));
    }

    [Fact]
    public async Task Udhcpc_UnrelayedClientSendingOption82_GetsPoolAddressNotTheReservation()
    {
        using var lab = new NetworkLab();
        var reserved = $"{lab.Prefix}.0.57";
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"),
        [
            .. KldloadServer.FullMode(lab),
            "--Dhcp:Reservations:0:CircuitId=rack12-slot7", $"--Dhcp:Reservations:0:Address={reserved}",
        ]);

        // Option 82 with sub-option 1 (circuit id) = "rack12-slot7", written by the client itself (giaddr 0).
        var circuit = Encoding.ASCII.GetBytes("rack12-slot7");
        var option82 = Convert.ToHexStringLower([1, (byte)circuit.Length, .. circuit]);
        var script = ClientPeerTests.WriteScript(lab, "udhcpc-script", ClientPeerTests.UdhcpcScript);
        var (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "udhcpc", "-q", "-f", "-n", "-i", lab.ClientIf, "-s", script,
            "-t", "5", "-T", "2", "-x", $"0x52:{option82}");
        Assert.True(code == 0, output);

        // The server saw the option (it echoes option 82 in every reply, RFC 3046 section 2.2) and did not trust it.
        Assert.Contains($"opt82={option82}", output, StringComparison.OrdinalIgnoreCase);
        Assert.Contains($"lease of {lab.Prefix}.0.100 obtained", output, StringComparison.Ordinal);
        Assert.DoesNotContain(reserved, output, StringComparison.Ordinal);

        var (status, body) = await server.ApiAsync(lab, lab.ServerNs, "GET", $"/api/v1/leases/{lab.Prefix}.0.100");
        Assert.Equal(200, status);
        var lease = JsonDocument.Parse(body).RootElement;
        Assert.Equal(JsonValueKind.Null, lease.GetProperty("circuitId").ValueKind);
        Assert.Equal(JsonValueKind.Null, lease.GetProperty("reservation").ValueKind);
        (status, _) = await server.ApiAsync(lab, lab.ServerNs, "GET", $"/api/v1/leases/{reserved}");
        Assert.Equal(404, status);
    }
}
