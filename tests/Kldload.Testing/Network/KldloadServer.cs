using System.Text.RegularExpressions;
using Kldload.Testing.Processes;

namespace Kldload.Testing.Network;

/// <summary>The real <c>kldload serve</c> binary started inside a lab namespace.</summary>
public sealed partial class KldloadServer
{
    private KldloadServer(PeerProcess process, string dataDir)
    {
        Process = process;
        DataDir = dataDir;
    }

    public PeerProcess Process { get; }

    public string DataDir { get; }

    public string LeaseDbPath => Path.Combine(DataDir, "leases.db");

    public Uri? HttpUrl { get; private set; }

    /// <summary>Starts kldload in <paramref name="ns"/> and waits until its DHCP listener is bound.</summary>
    public static Task<KldloadServer> StartAsync(NetworkLab lab, string ns, string dataDir, params string[] settings) =>
        StartAsync(lab, ns, dataDir, Listening(), settings);

    /// <summary>Starts kldload in <paramref name="ns"/> and waits for <paramref name="listening"/> in its log (the listener a test needs).</summary>
    public static async Task<KldloadServer> StartAsync(NetworkLab lab, string ns, string dataDir, Regex listening, params string[] settings)
    {
        var (file, args) = KldloadProcess.Command(
        [
            "serve", "--urls", "http://127.0.0.1:0", "--Tftp:Enabled=false", $"--Kldload:DataDir={dataDir}", "--Kldload:LogLevel=Debug", .. settings,
        ]);
        var process = lab.Start(ns, file, args);
        var server = new KldloadServer(process, dataDir);
        await process.WaitForOutputAsync(listening, TimeSpan.FromSeconds(60));
        var url = await process.WaitForOutputAsync(ServingOn(), TimeSpan.FromSeconds(30));
        server.HttpUrl = new Uri(url.Groups[1].Value);
        return server;
    }

    /// <summary>Full-mode settings for the lab's server interface: pool .100-.199 of 10.X.0.0/24.</summary>
    public static string[] FullMode(NetworkLab lab, string poolStart = "100", string poolEnd = "199") =>
    [
        "--Dhcp:Mode=Full", $"--Dhcp:Interface={lab.ServerIf}",
        $"--Dhcp:Subnets:0:Network={lab.Prefix}.0.0/24", $"--Dhcp:Subnets:0:PoolStart={lab.Prefix}.0.{poolStart}",
        $"--Dhcp:Subnets:0:PoolEnd={lab.Prefix}.0.{poolEnd}", $"--Dhcp:Subnets:0:Router={lab.Prefix}.0.1",
        $"--Dhcp:Subnets:0:DnsServers:0={lab.Prefix}.0.1", "--Dhcp:Subnets:0:DomainName=rack.test",
    ];

    /// <summary>
    /// Deletes the LiteDB lease files of a stopped server (the database and its log), leaving only
    /// <c>leases.journal</c>: the journal must be enough on its own to restore every acknowledged lease.
    /// </summary>
    public void DeleteLeaseDatabase()
    {
        if (!Process.HasExited)
        {
            throw new InvalidOperationException("kldload is still running");
        }

        foreach (var file in Directory.GetFiles(DataDir, "leases*"))
        {
            if (Path.GetFileName(file) != "leases.journal")
            {
                File.Delete(file);
            }
        }
    }

    /// <summary>GET /metrics from inside the namespace (the HTTP listener is on the namespace's loopback).</summary>
    public async Task<string> MetricsAsync(NetworkLab lab, string ns)
    {
        var (_, output) = await lab.RunAsync(ns, TimeSpan.FromSeconds(20), "curl", "-sS", new Uri(HttpUrl!, "/metrics").ToString());
        return output;
    }

    /// <summary>Runs the kldload command line (<c>kldload ARGS --server URL</c>) inside <paramref name="ns"/> against this server.</summary>
    public Task<(int ExitCode, string Output)> CliAsync(NetworkLab lab, string ns, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(lab);
        var (file, all) = KldloadProcess.Command([.. args, "--server", HttpUrl!.ToString(), $"--Kldload:DataDir={DataDir}"]);
        return lab.RunAsync(ns, TimeSpan.FromSeconds(60), file, all);
    }

    /// <summary>An admin API call with the server's token from inside <paramref name="ns"/>: the HTTP status and the body.</summary>
    public async Task<(int Status, string Body)> ApiAsync(NetworkLab lab, string ns, string method, string path)
    {
        var token = (await File.ReadAllTextAsync(Path.Combine(DataDir, "admin.token"))).Trim();
        var (_, output) = await lab.RunAsync(ns, TimeSpan.FromSeconds(20), "curl", "-sS", "-X", method, "-H", $"Authorization: Bearer {token}",
            "-w", "\n%{http_code}", new Uri(HttpUrl!, path).ToString());
        var cut = output.LastIndexOf('\n');
        return (int.Parse(output[(cut + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture), output[..Math.Max(cut, 0)]);
    }

    [GeneratedRegex(@"DHCP (Full|Proxy) on \S+ port")]
    private static partial Regex Listening();

    [GeneratedRegex(@"serving on (http://[0-9.]+:\d+)")]
    private static partial Regex ServingOn();
}
