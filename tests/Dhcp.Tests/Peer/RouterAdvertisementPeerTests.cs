using System.Globalization;
using System.Text.RegularExpressions;

namespace Kldload.Dhcp.Tests.Peer;

/// <summary>
/// IPv6 router discovery against real peers, in namespaces the tests create: rdisc6 (ndisc6) solicits
/// routers from the client side of the lab's veth pair, radvd plays the real router that Auto mode
/// must make way for.
/// </summary>
[Trait("Tier", "Peer")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class RouterAdvertisementPeerTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task Rdisc6_SegmentWithoutRouter_GetsEmptyAdvertisementFromKldloadByDefault()
    {
        using var lab = new NetworkLab();
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"), KldloadServer.FullMode(lab));
        await server.Process.WaitForOutputAsync(new Regex(@"IPv6 router advertisements Auto on "), Bounded);
        var kldload = await LinkLocalAsync(lab, lab.ServerNs, lab.ServerIf);
        await LinkLocalAsync(lab, lab.ClientNs, lab.ClientIf); // rdisc6 cannot send from a tentative address

        var (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "rdisc6", "-1", "-n", "-r", "5", lab.ClientIf);
        Assert.True(code == 0, output);
        Assert.Contains($"from {kldload}", output, StringComparison.Ordinal);
        Assert.Matches(@"Router lifetime\s+:\s+0 \(0x0+\) seconds", output);
        Assert.Matches(@"Stateful address conf\.\s+:\s+No", output);
        Assert.Matches(@"Stateful other conf\.\s+:\s+No", output);
        Assert.DoesNotContain("Prefix", output, StringComparison.Ordinal);

        // The client gained no route and no address from it.
        var (_, routes) = await lab.RunAsync(lab.ClientNs, Bounded, "ip", "-6", "route", "show", "default");
        Assert.Equal(string.Empty, routes.Trim());
        var (_, addresses) = await lab.RunAsync(lab.ClientNs, Bounded, "ip", "-6", "addr", "show", "dev", lab.ClientIf, "scope", "global");
        Assert.Equal(string.Empty, addresses.Trim());

        var metrics = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.True(Metric(metrics, "kldload_ra_advertisements_sent_total") >= 1, metrics);
        Assert.Equal(0, Metric(metrics, "kldload_ra_silenced"));
    }

    [Fact]
    public async Task Radvd_RouterOnTheSegment_AutoStopsAnswering()
    {
        using var lab = new NetworkLab();
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"),
            [.. KldloadServer.FullMode(lab), "--Dhcp:RouterAdvertisements=Auto"]);
        await server.Process.WaitForOutputAsync(new Regex(@"IPv6 router advertisements Auto on "), Bounded);
        var kldload = await LinkLocalAsync(lab, lab.ServerNs, lab.ServerIf);
        await LinkLocalAsync(lab, lab.ClientNs, lab.ClientIf); // rdisc6 cannot send from a tentative address
        var (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "rdisc6", "-1", "-n", "-r", "5", lab.ClientIf);
        Assert.True(code == 0 && output.Contains($"from {kldload}", StringComparison.Ordinal), output);

        var router = await StartRadvdAsync(lab);
        await server.Process.WaitForOutputAsync(new Regex($@"Another IPv6 router \({Regex.Escape(router)}%\d+\) advertises on {lab.ServerIf}; router advertisements stopped"), Bounded);
        var before = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.Equal(1, Metric(before, "kldload_ra_silenced"));

        // Solicit again: kldload stays silent (radvd may or may not answer rdisc6 on its own interface).
        (_, output) = await lab.RunAsync(lab.ClientNs, Bounded, "rdisc6", "-m", "-n", "-r", "2", "-w", "1500", lab.ClientIf);
        Assert.DoesNotContain($"from {kldload}", output, StringComparison.Ordinal);
        var after = await server.MetricsAsync(lab, lab.ServerNs);
        Assert.True(Metric(after, "kldload_ra_dropped_total{reason=\"OtherRouterActive\"}") >= 1, after);
        Assert.Equal(Metric(before, "kldload_ra_advertisements_sent_total"), Metric(after, "kldload_ra_advertisements_sent_total"));
    }

    [Fact]
    public async Task Radvd_RouterOnTheSegment_OnKeepsAnswering()
    {
        using var lab = new NetworkLab();
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, Path.Combine(lab.TempDir, "var"),
            [.. KldloadServer.FullMode(lab), "--Dhcp:RouterAdvertisements=On"]);
        await server.Process.WaitForOutputAsync(new Regex(@"IPv6 router advertisements On on "), Bounded);
        var kldload = await LinkLocalAsync(lab, lab.ServerNs, lab.ServerIf);
        await LinkLocalAsync(lab, lab.ClientNs, lab.ClientIf); // rdisc6 cannot send from a tentative address
        await StartRadvdAsync(lab);
        var deadline = DateTime.UtcNow + Bounded;
        while (Metric(await server.MetricsAsync(lab, lab.ServerNs), "kldload_ra_other_router_advertisements_total") < 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "kldload never saw radvd's advertisement");
            await Task.Delay(200);
        }

        var (_, output) = await lab.RunAsync(lab.ClientNs, Bounded, "rdisc6", "-m", "-n", "-r", "2", "-w", "1500", lab.ClientIf);
        Assert.Contains($"from {kldload}", output, StringComparison.Ordinal);
        Assert.Equal(0, Metric(await server.MetricsAsync(lab, lab.ServerNs), "kldload_ra_silenced"));
    }

    /// <summary>radvd on the client side of the veth pair, advertising a ULA /64 every 3-4 s; returns its link-local address.</summary>
    private static async Task<string> StartRadvdAsync(NetworkLab lab)
    {
        var (code, output) = await lab.RunAsync(lab.ClientNs, Bounded, "sysctl", "-w", "net.ipv6.conf.all.forwarding=1");
        Assert.True(code == 0, output);
        var config = Path.Combine(lab.TempDir, "radvd.conf");
        await File.WriteAllTextAsync(config, $$"""
            interface {{lab.ClientIf}} {
              AdvSendAdvert on;
              MinRtrAdvInterval 3;
              MaxRtrAdvInterval 4;
              prefix fd00:{{lab.Octet.ToString("x", CultureInfo.InvariantCulture)}}::/64 { };
            };
            """);
        var radvd = lab.Start(lab.ClientNs, "radvd", "-n", "-C", config, "-p", Path.Combine(lab.TempDir, "radvd.pid"), "-m", "stderr", "-d", "1");
        var address = await LinkLocalAsync(lab, lab.ClientNs, lab.ClientIf);
        Assert.False(radvd.HasExited, radvd.Output);
        return address;
    }

    /// <summary>The interface's link-local address once duplicate address detection is done.</summary>
    private static async Task<string> LinkLocalAsync(NetworkLab lab, string ns, string iface)
    {
        var deadline = DateTime.UtcNow + Bounded;
        while (true)
        {
            var (_, output) = await lab.RunAsync(ns, Bounded, "ip", "-6", "-o", "addr", "show", "dev", iface, "scope", "link");
            var m = LinkLocal().Match(output);
            if (m.Success && !output.Contains("tentative", StringComparison.Ordinal))
            {
                return m.Groups[1].Value;
            }

            Assert.True(DateTime.UtcNow < deadline, $"no link-local address on {iface}: {output}");
            await Task.Delay(100);
        }
    }

    private static double Metric(string metrics, string name)
    {
        var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return line is null ? double.NaN : double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"inet6 (fe80::[0-9a-f:]+)/64")]
    private static partial Regex LinkLocal();
}
