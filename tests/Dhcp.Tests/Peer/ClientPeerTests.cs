using System.Text.RegularExpressions;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Peer;

/// <summary>dhclient, busybox udhcpc and nmap against the real kldload binary, in namespaces.</summary>
[Trait("Tier", "Peer")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class ClientPeerTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(40);

    /// <summary>A dhclient-script that only sets the address (never touches /etc/resolv.conf of the host).</summary>
    internal const string DhclientScript = """
        #!/bin/sh
        case "$reason" in
          BOUND|RENEW|REBIND|REBOOT) ip addr flush dev "$interface"; ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
          RELEASE|EXPIRE|STOP) ip addr flush dev "$interface" ;;
        esac
        exit 0
        """;

    internal const string UdhcpcScript = """
        #!/bin/sh
        case "$1" in
          bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface" ;;
          deconfig) ip addr flush dev "$interface" ;;
        esac
        echo "script $1 ip=$ip boot_file=$boot_file opt82=$opt82"
        exit 0
        """;

    internal static string WriteScript(NetworkLab lab, string name, string text)
    {
        var path = Path.Combine(lab.TempDir, name);
        File.WriteAllText(path, text.Replace("\r", string.Empty, StringComparison.Ordinal) + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    [Fact]
    public async Task Dhclient_ObtainRebootRelease_LeaseKeptThenReleased()
    {
        using var lab = new NetworkLab();
        var data = Path.Combine(lab.TempDir, "var");
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, data, KldloadServer.FullMode(lab));
        var script = WriteScript(lab, "dhclient-script", DhclientScript);
        string[] files = ["-lf", Path.Combine(lab.TempDir, "dhclient.leases"), "-pf", Path.Combine(lab.TempDir, "dhclient.pid"), "-sf", script];

        // Obtain: DISCOVER, OFFER, REQUEST (SELECTING), ACK.
        var (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "dhclient", ["-1", "-v", .. files, lab.ClientIf]);
        Assert.True(code == 0, output);
        var bound = BoundTo().Match(output);
        Assert.True(bound.Success, output);
        var address = bound.Groups[1].Value;
        Assert.StartsWith($"{lab.Prefix}.0.", address, StringComparison.Ordinal);
        var (_, shown) = await lab.RunAsync(lab.ClientNs, Bounded, "ip", "-4", "addr", "show", lab.ClientIf);
        Assert.Contains(address + "/24", shown, StringComparison.Ordinal);

        // Restart the client with its lease file: INIT-REBOOT asks for the same address and gets it.
        (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "dhclient", ["-x", .. files, lab.ClientIf]);
        (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "dhclient", ["-1", "-v", .. files, lab.ClientIf]);
        Assert.True(code == 0, output);
        Assert.Contains($"DHCPREQUEST for {address}", output, StringComparison.Ordinal);
        Assert.Equal(address, BoundTo().Match(output).Groups[1].Value);
        Assert.DoesNotContain("DHCPDISCOVER", output, StringComparison.Ordinal);

        // Release: the server marks the lease released.
        (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "dhclient", ["-r", "-v", .. files, lab.ClientIf]);
        Assert.True(code == 0, output);
        await server.Process.WaitForOutputAsync(new Regex(@"DHCP Release from \S+ recorded"), TimeSpan.FromSeconds(10));
        var metrics = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.Contains("kldload_dhcp_leases_active 0", metrics, StringComparison.Ordinal);
        Assert.Contains("kldload_dhcp_packets_received_total{type=\"release\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("kldload_dhcp_packets_sent_total{type=\"nak\"} 0", metrics, StringComparison.Ordinal);

        // A release is flushed with the next group commit (no ACK waits for it); give it that moment.
        await Task.Delay(TimeSpan.FromSeconds(1));
        server.Process.Kill();
        using var store = LiteDbLeaseStore.Open(server.LeaseDbPath);
        var lease = Assert.Single(store.LoadAll());
        Assert.Equal(address, lease.Address.ToString());
        Assert.Equal(DhcpLeaseState.Released, lease.State);
    }

    [Fact]
    public async Task Udhcpc_ObtainRenewRelease_SameAddressThroughout()
    {
        using var lab = new NetworkLab();
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"), KldloadServer.FullMode(lab));
        var script = WriteScript(lab, "udhcpc-script", UdhcpcScript);
        var client = lab.Start(lab.ClientNs, "udhcpc", "-f", "-i", lab.ClientIf, "-s", script, "-t", "5", "-T", "2", "-A", "2");
        var obtained = await client.WaitForOutputAsync(new Regex(@"lease of ([0-9.]+) obtained"), Bounded);
        var address = obtained.Groups[1].Value;
        await client.WaitForOutputAsync(new Regex("script bound ip=" + Regex.Escape(address)), Bounded);

        // SIGUSR1: renew (RENEWING: unicast REQUEST from ciaddr).
        client.Signal("USR1");
        await client.WaitForOutputAsync(new Regex("script renew ip=" + Regex.Escape(address)), Bounded);
        await server.Process.WaitForOutputAsync(new Regex($@"DHCP Request from \S+: Ack {Regex.Escape(address)} file '' to {Regex.Escape(address)}:68"), Bounded);

        // SIGUSR2: release.
        client.Signal("USR2");
        await server.Process.WaitForOutputAsync(new Regex(@"DHCP Release from \S+ recorded"), Bounded);

        // A release is flushed with the next group commit (no ACK waits for it); give it that moment.
        await Task.Delay(TimeSpan.FromSeconds(1));
        client.Kill();
        server.Process.Kill();
        using var store = LiteDbLeaseStore.Open(server.LeaseDbPath);
        var lease = Assert.Single(store.LoadAll());
        Assert.Equal(address, lease.Address.ToString());
        Assert.Equal(DhcpLeaseState.Released, lease.State);
    }

    [Fact]
    public async Task Udhcpc_PxeVendorClass_GetsLeaseAndEfiLoader()
    {
        using var lab = new NetworkLab();
        await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"), KldloadServer.FullMode(lab));
        var script = WriteScript(lab, "udhcpc-script", UdhcpcScript);
        var (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "udhcpc", "-q", "-f", "-n", "-i", lab.ClientIf, "-s", script, "-t", "5", "-T", "2",
            "-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "93:0007", "-O", "bootfile");
        Assert.True(code == 0, output);
        Assert.Contains("boot_file=snponly.efi", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nmap_BroadcastDhcpDiscover_SeesOfferAndBootFile()
    {
        using var lab = new NetworkLab();
        await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"), KldloadServer.FullMode(lab));

        // nmap needs an IPv4 address on its interface; -v makes it ask for every option, 67 included.
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", $"{lab.Prefix}.0.2/24", "dev", lab.ClientIf);
        var (code, output) = await lab.RunAsync(lab.ClientNs, TimeSpan.FromSeconds(60), "nmap", "-v", "-n", "-e", lab.ClientIf, "--script", "broadcast-dhcp-discover",
            "--script-args", "broadcast-dhcp-discover.timeout=5");
        Assert.True(code == 0, output);
        Assert.Contains($"IP Offered: {lab.Prefix}.0.100", output, StringComparison.Ordinal);
        Assert.Contains($"Server Identifier: {lab.Prefix}.0.1", output, StringComparison.Ordinal);
        Assert.Contains("Bootfile Name: undionly.kpxe", output, StringComparison.Ordinal);
        Assert.Contains("Domain Name: rack.test", output, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"bound to ([0-9.]+)")]
    private static partial Regex BoundTo();
}
