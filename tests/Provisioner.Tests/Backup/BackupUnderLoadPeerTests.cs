using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kldload.Age;
using Kldload.Dhcp.Leases;
using Kldload.Provisioner.Tests.Attestation;

namespace Kldload.Provisioner.Tests.Backup;

/// <summary>
/// The real <c>kldload serve</c> in a private namespace, under a perfdhcp load and with a node
/// attesting (swtpm), while <c>kldload backup</c> runs against it; then the backup is restored into a
/// fresh directory and served by a new process on the same segment.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class BackupUnderLoadPeerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task Backup_DuringPerfdhcpAndAttestation_ServingUninterruptedAndRestoreServesSameLeasesAndIdentities()
    {
        using var lab = new NetworkLab();
        var data = Path.Combine(lab.TempDir, "data");
        string[] settings = [.. KldloadServer.FullMode(lab, "10", "250"), "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab"];
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, data, settings);
        await ImportImageAsync(lab, data);
        using var http = InNamespace(lab.ServerNs, server.HttpUrl!, data);
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", $"{lab.Prefix}.0.2/24", "dev", lab.ClientIf);

        // Node A is Ready before the backup; node B attests while it is taken.
        using var tpmA = new SwtpmNode();
        using var tpmB = new SwtpmNode();
        const string macA = "52:54:00:b1:00:0a";
        const string macB = "52:54:00:b1:00:0b";
        await Agent.AttestAsync(http, tpmA, await Agent.BootTokenAsync(http, macA), macA);
        var before = await NodeAsync(http, macA);

        var identity = AgeIdentity.Generate();
        var archive = Path.Combine(lab.TempDir, "site.age");
        var load = lab.Start(lab.ClientNs, "perfdhcp", "-4", "-l", lab.ClientIf, "-r", "150", "-R", "200", "-p", "8", "-W", "2000000");
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var attestB = Task.Run(async () => Agent.AttestAsync(http, tpmB, await Agent.BootTokenAsync(http, macB), macB));
        var (backupCode, backupOutput) = await lab.RunAsync(lab.ServerNs, TimeSpan.FromSeconds(120), Dotnet, Kldload, "backup", "-o", archive,
            "-r", identity.Recipient.ToString(), "--server", server.HttpUrl!.ToString(), $"--Kldload:DataDir={data}", "-q");
        Assert.True(backupCode == 0, backupOutput);
        await (await attestB);
        await load.WaitForExitAsync(TimeSpan.FromSeconds(60));

        // DHCP kept answering: no exchange dropped, no lease refused, while the backup ran.
        Assert.True(load.ExitCode == 0, load.Output);
        Assert.Equal(0, Stat(load.Output, "DISCOVER-OFFER", "drops"));
        Assert.Equal(0, Stat(load.Output, "REQUEST-ACK", "drops"));
        Assert.Equal(0, Stat(load.Output, "REQUEST-ACK", "rejected leases"));
        Assert.Equal("Ready", (await NodeAsync(http, macB)).GetProperty("state").GetString());
        server.Process.Kill();
        await server.Process.WaitForExitAsync(TimeSpan.FromSeconds(20));

        // Restore into a fresh directory: every lease of the backup is a lease the server granted.
        var restored = Path.Combine(lab.TempDir, "restored");
        var keyFile = Path.Combine(lab.TempDir, "backup.key");
        await File.WriteAllTextAsync(keyFile, identity.ToFileText(DateTimeOffset.UtcNow));
        var (restoreCode, restoreOutput) = await PeerProcess.RunAsync(TimeSpan.FromSeconds(120), Dotnet, Kldload, "restore", archive, "-i", keyFile, $"--Kldload:DataDir={restored}", "-q");
        Assert.True(restoreCode == 0, restoreOutput);
        var granted = Leases(Path.Combine(data, "leases.db"));
        var inBackup = Leases(Path.Combine(restored, "leases.db"));
        Assert.True(inBackup.Count >= 50, $"only {inBackup.Count} leases in the backup");
        foreach (var (address, mac) in inBackup)
        {
            Assert.True(granted.TryGetValue(address, out var grantedTo) && grantedTo == mac, $"{address} is {mac} in the backup but {grantedTo} on the server");
        }

        // The restored service, on the same segment: the node re-attests as itself, and the
        // returning clients get their addresses without any address going to two MACs.
        var again = await KldloadServer.StartAsync(lab, lab.ServerNs, restored, settings);
        using var http2 = InNamespace(lab.ServerNs, again.HttpUrl!, restored);
        await Agent.AttestAsync(http2, tpmA, await Agent.BootTokenAsync(http2, macA), macA);
        var after = await NodeAsync(http2, macA);
        Assert.Equal("Ready", after.GetProperty("state").GetString());
        foreach (var key in new[] { "id", "meshAddress", "wireguardPublicKey" })
        {
            Assert.Equal(before.GetProperty(key).ToString(), after.GetProperty(key).ToString());
        }

        output.WriteLine($"backup during load: {inBackup.Count} leases in the archive, {granted.Count} on the server at the end; " +
            $"perfdhcp {Stat(load.Output, "DISCOVER-OFFER", "sent packets")} DISCOVER / {Stat(load.Output, "REQUEST-ACK", "sent packets")} REQUEST, 0 drops");
        var (code, second) = await lab.RunAsync(lab.ClientNs, TimeSpan.FromSeconds(60), "perfdhcp", "-4", "-l", lab.ClientIf, "-r", "150", "-R", "200", "-p", "3", "-W", "2000000");
        Assert.True(code == 0, second);
        Assert.Equal(0, Stat(second, "REQUEST-ACK", "rejected leases"));
        again.Process.Kill();
    }

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    private static string Kldload => Path.Combine(AppContext.BaseDirectory, "kldload.dll");

    private static Dictionary<string, string> Leases(string path)
    {
        using var store = LiteDbLeaseStore.Open(path);
        return store.LoadAll().ToDictionary(l => l.Address.ToString(), l => l.HardwareAddress);
    }

    private static async Task ImportImageAsync(NetworkLab lab, string data)
    {
        var src = Directory.CreateDirectory(Path.Combine(lab.TempDir, "image")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(src, "kernel"), RandomNumberGenerator.GetBytes(300_000));
        await File.WriteAllBytesAsync(Path.Combine(src, "initrd"), RandomNumberGenerator.GetBytes(500_000));
        // In the server's network namespace: the running server holds kldload.db and the CLI asks it
        // at the loopback URL it published, which only that namespace reaches.
        var (code, output) = await PeerProcess.RunAsync(TimeSpan.FromSeconds(120), "ip", "netns", "exec", lab.ServerNs, Dotnet, Kldload, "image", "import", src, "--name", "live", "--version", "1", "--channel", "stable", $"--Kldload:DataDir={data}", "-q");
        Assert.True(code == 0, output);
    }

    private static async Task<JsonElement> NodeAsync(HttpClient http, string mac)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static long Stat(string output, string exchange, string name)
    {
        var block = output[output.IndexOf("Statistics for: " + exchange, StringComparison.Ordinal)..];
        return long.Parse(new Regex(name + @": (\d+)").Match(block).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// An HTTP client whose TCP connections are made inside <paramref name="ns"/> (the server listens
    /// on that namespace's loopback), with the admin token of <paramref name="dataDir"/>.
    /// </summary>
    private static HttpClient InNamespace(string ns, Uri baseAddress, string dataDir)
    {
        var http = new HttpClient(NetworkLab.HttpHandlerIn(ns)) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim());
        return http;
    }
}
