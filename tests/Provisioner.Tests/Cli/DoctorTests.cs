using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Kldload.Provisioner.Tests.Cli;

public sealed class DoctorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldoctor-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Doctor_MissingLoaderAndBadSetting_EachListedWithItsFix()
    {
        var root = Path.Combine(_dir, "tftp");
        Directory.CreateDirectory(root);
        await File.WriteAllBytesAsync(Path.Combine(root, "snponly.efi"), new byte[4096]);
        int tftpPort;

        using (var probe = new System.Net.Sockets.UdpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)))
        {
            tftpPort = ((System.Net.IPEndPoint)probe.Client.LocalEndPoint!).Port;
        }

        var (code, stdout, _) = await KldloadProcess.RunAsync(_dir, "doctor", $"--Kldload:DataDir={Path.Combine(_dir, "var")}", $"--Tftp:Root={root}",
            $"--Tftp:Endpoint=127.0.0.1:{tftpPort}", "--urls", "http://127.0.0.1:0");

        Assert.Equal(1, code);
        Assert.Contains("ok      loaders: Boot:Loaders:EfiX64", stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"PROBLEM loaders: Boot:Loaders:Bios \S+undionly.kpxe is missing\n\s+fix: apt install ipxe"), stdout);
        Assert.Contains("kldload doctor: 1 problem", stdout, StringComparison.Ordinal);

        (code, stdout, _) = await KldloadProcess.RunAsync(_dir, "doctor", "--json", $"--Kldload:DataDir={Path.Combine(_dir, "var")}", $"--Tftp:Root={root}",
            $"--Tftp:Endpoint=127.0.0.1:{tftpPort}", "--urls", "http://127.0.0.1:0");
        Assert.Equal(1, code);
        var report = JsonNode.Parse(stdout)!;
        Assert.Equal(1, (int)report["problems"]!);
        var bios = Assert.Single(report["findings"]!.AsArray(), f => (string)f!["status"]! == "problem")!;
        Assert.Equal("loaders", (string)bios["check"]!);
        Assert.Contains("undionly.kpxe is missing", (string)bios["detail"]!, StringComparison.Ordinal);
        Assert.StartsWith("apt install ipxe", (string)bios["fix"]!, StringComparison.Ordinal);
        Assert.Contains(report["findings"]!.AsArray(), f => (string)f!["check"]! == "settings" && (string)f["status"]! == "ok");

        (code, stdout, _) = await KldloadProcess.RunAsync(_dir, "doctor", $"--Kldload:DataDir={Path.Combine(_dir, "var")}", "--urls", "http://127.0.0.1:0", "--Dhcp:Mode=Fulll");

        Assert.Equal(1, code);
        Assert.Contains("PROBLEM settings: Dhcp:Mode", stdout, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Tier", "Peer")]
    public async Task Doctor_AnotherDhcpServerOnTheSegment_FullIsAProblemProxyIsNot()
    {
        using var lab = new NetworkLab();
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", $"{lab.Prefix}.0.2/24", "dev", lab.ClientIf);
        var dnsmasq = lab.Start(lab.ServerNs, "dnsmasq", "-k", "--conf-file=/dev/null", "--port=0", $"--interface={lab.ServerIf}", "--bind-interfaces",
            $"--dhcp-range={lab.Prefix}.0.50,{lab.Prefix}.0.90,255.255.255.0,1h", $"--dhcp-leasefile={Path.Combine(lab.TempDir, "leases")}",
            "--no-ping", "--log-dhcp", "--log-facility=-", $"--pid-file={Path.Combine(lab.TempDir, "dnsmasq.pid")}");
        await dnsmasq.WaitForOutputAsync(new Regex("DHCP, IP range"), TimeSpan.FromSeconds(30));

        var (code, output) = await DoctorInAsync(lab, "Full");

        Assert.Equal(1, code);
        Assert.Contains($"another DHCP server answers on {lab.ClientIf}: {lab.Prefix}.0.1 (offered {lab.Prefix}.0.", output, StringComparison.Ordinal);
        Assert.Contains("fix: set Dhcp:Mode=Proxy", output, StringComparison.Ordinal);

        (code, output) = await DoctorInAsync(lab, "Proxy");

        Assert.True(code == 0, output);
        Assert.Contains($"Proxy mode beside {lab.Prefix}.0.1", output, StringComparison.Ordinal);

        // kldload setup on the same segment proposes Proxy and writes it.
        var settings = Path.Combine(lab.TempDir, "appsettings.json");
        (code, output) = await SetupInAsync(lab, settings);
        Assert.Contains($"Another DHCP server answers on {lab.ClientIf}: {lab.Prefix}.0.1: proposing Proxy", output, StringComparison.Ordinal);
        var dhcp = JsonNode.Parse(await File.ReadAllTextAsync(settings))!["Dhcp"]!;
        Assert.Equal("Proxy", dhcp["Mode"]!.GetValue<string>());
        Assert.Equal(lab.ClientIf, dhcp["Interface"]!.GetValue<string>());
        Assert.Empty(dhcp["Subnets"]!.AsArray());
    }

    [Fact]
    [Trait("Tier", "Peer")]
    public async Task Doctor_NoOtherDhcpServer_ProxyIsAProblemFullIsNot()
    {
        using var lab = new NetworkLab();
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", $"{lab.Prefix}.0.2/24", "dev", lab.ClientIf);

        var (code, output) = await DoctorInAsync(lab, "Proxy");

        Assert.Equal(1, code);
        Assert.Contains($"no DHCP server answered on {lab.ClientIf}", output, StringComparison.Ordinal);
        Assert.Contains("fix: set Dhcp:Mode=Full", output, StringComparison.Ordinal);

        (code, output) = await DoctorInAsync(lab, "Full");

        Assert.True(code == 0, output);
        Assert.Contains($"no other DHCP server answered on {lab.ClientIf}", output, StringComparison.Ordinal);
        Assert.Contains("kldload doctor: no problem found", output, StringComparison.Ordinal);

        // kldload setup proposes Full with a pool in the interface's subnet, away from its address.
        var settings = Path.Combine(lab.TempDir, "appsettings.json");
        (code, output) = await SetupInAsync(lab, settings);
        Assert.Contains($"No other DHCP server answered on {lab.ClientIf}: proposing Full", output, StringComparison.Ordinal);
        var root = JsonNode.Parse(await File.ReadAllTextAsync(settings))!;
        Assert.Equal("Full", root["Dhcp"]!["Mode"]!.GetValue<string>());
        var subnet = root["Dhcp"]!["Subnets"]![0]!;
        Assert.Equal($"{lab.Prefix}.0.0/24", subnet["Network"]!.GetValue<string>());
        Assert.Equal($"{lab.Prefix}.0.128", subnet["PoolStart"]!.GetValue<string>());
        Assert.Equal($"{lab.Prefix}.0.254", subnet["PoolEnd"]!.GetValue<string>());
        Assert.Equal($"http://{lab.Prefix}.0.2:8080", root["Kldload"]!["ServerUrl"]!.GetValue<string>());
    }

    /// <summary>Runs kldload setup for the client side of the lab, writing <paramref name="settings"/>.</summary>
    private static Task<(int ExitCode, string Output)> SetupInAsync(NetworkLab lab, string settings) =>
        lab.RunAsync(lab.ClientNs, TimeSpan.FromSeconds(90), Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
            Path.Combine(AppContext.BaseDirectory, "kldload.dll"), "setup", "--interface", lab.ClientIf, "--yes", "--dhcp-wait", "00:00:02", "-o", settings,
            $"--Kldload:DataDir={Path.Combine(lab.TempDir, "var-setup")}");

    private static Task<(int ExitCode, string Output)> DoctorInAsync(NetworkLab lab, string mode) =>
        lab.RunAsync(lab.ClientNs, TimeSpan.FromSeconds(90), Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
            Path.Combine(AppContext.BaseDirectory, "kldload.dll"), "doctor", "--dhcp-wait", "00:00:02",
            $"--Kldload:DataDir={Path.Combine(lab.TempDir, "var-" + mode)}", $"--Dhcp:Mode={mode}", $"--Dhcp:Interface={lab.ClientIf}",
            $"--Dhcp:Subnets:0:Network={lab.Prefix}.0.0/24", $"--Dhcp:Subnets:0:PoolStart={lab.Prefix}.0.100", $"--Dhcp:Subnets:0:PoolEnd={lab.Prefix}.0.150");
}
