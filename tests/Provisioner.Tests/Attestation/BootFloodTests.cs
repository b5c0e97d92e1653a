using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// Attack 6 of the attestation issue: a flood of <c>/boot.ipxe</c> requests with random MACs from
/// one address (127.0.0.2) against the real binary. The flood is bounded in count and time and
/// stops by itself. The process stays within its memory bound, the database within its size
/// bound, the inventory grows no faster than the per-source limit allows, and a real node on
/// 127.0.0.1 attests all the while.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class BootFloodTests : IDisposable
{
    /// <summary>The documented bounds (README, "Attestation"): resident memory and database size under the flood.</summary>
    private const long MaxRssBytes = 512L << 20;

    private const long MaxDatabaseBytes = 64L << 20;

    private const int Requests = 100_000;

    // Lowered from the defaults (200/s, burst 2,000) so the part of the flood that is served, and
    // so written to the database, stays small on a busy 2-core CI machine; the bound is the same rule.
    private const int Rate = 5;
    private const int Burst = 50;

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-flood-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Flood_RandomMacsFromOneAddress_BoundedAndRealNodeStillAttests()
    {
        var data = Path.Combine(_dir, "var");
        var image = Directory.CreateDirectory(Path.Combine(_dir, "image")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(image, "kernel"), RandomNumberGenerator.GetBytes(64_000));
        await File.WriteAllBytesAsync(Path.Combine(image, "initrd"), RandomNumberGenerator.GetBytes(64_000));
        var import = await KldloadProcess.RunAsync(_dir, "image", "import", image, "--name", "live", "--version", "1", "--channel", "stable", $"--Kldload:DataDir={data}", "-q");
        Assert.True(import.ExitCode == 0, import.Stdout + import.Stderr);

        await using var server = KldloadProcess.Start(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={data}", "--Tftp:Enabled=false",
            "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab",
            $"--Limits:PerSourceRequestsPerSecond={Rate}", $"--Limits:PerSourceBurst={Burst}");
        var url = await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        var token = await File.ReadAllTextAsync(Path.Combine(data, "admin.token"));
        using var http = new HttpClient { BaseAddress = url };
        using var admin = new HttpClient { BaseAddress = url };
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token.Trim());

        using var floodHandler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 32,
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        using var flood = new HttpClient(floodHandler) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };

        var clock = Stopwatch.StartNew();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(240));
        var sent = 0;
        var served = 0;
        var limited = 0;
        long peakRss = 0;
        var workers = Enumerable.Range(0, 32).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref sent) <= Requests && !deadline.IsCancellationRequested)
            {
                var mac = string.Join(':', RandomNumberGenerator.GetBytes(6).Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
                using var r = await flood.GetAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative), deadline.Token);
                _ = r.StatusCode switch
                {
                    HttpStatusCode.OK => Interlocked.Increment(ref served),
                    HttpStatusCode.TooManyRequests => Interlocked.Increment(ref limited),
                    _ => throw new InvalidOperationException($"flood request answered {(int)r.StatusCode}"),
                };
            }
        })).ToList();
        var sampler = Task.Run(async () =>
        {
            while (!workers.All(w => w.IsCompleted))
            {
                peakRss = Math.Max(peakRss, Rss(server.Pid));
                await Task.Delay(200);
            }
        });

        // A real node on another address attests while the flood runs.
        await Task.Delay(TimeSpan.FromSeconds(2));
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:f1:00:01";
        var activated = await Agent.AttestAsync(http, tpm, await Agent.BootTokenAsync(http, mac), mac);
        Assert.Equal("Attested", activated.GetProperty("state").GetString());

        await Task.WhenAll(workers);
        await sampler;
        var elapsed = clock.Elapsed.TotalSeconds;
        Assert.False(deadline.IsCancellationRequested, $"the flood did not finish within its time bound ({served} served, {limited} limited)");
        Assert.Equal(Requests, served + limited);

        // The per-source bucket bounds what the flood could create: the burst plus the rate.
        var bound = Burst + (int)Math.Ceiling(Rate * (elapsed + 1));
        Assert.InRange(served, 1, bound);
        var nodes = await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes", UriKind.Relative));
        Assert.InRange(nodes.GetArrayLength(), served, served + 1);
        Assert.Equal("Ready", (await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative))).GetProperty("state").GetString());

        var dbBytes = new FileInfo(Path.Combine(data, "kldload.db")).Length + (File.Exists(Path.Combine(data, "kldload-log.db")) ? new FileInfo(Path.Combine(data, "kldload-log.db")).Length : 0);
        Assert.True(peakRss < MaxRssBytes, $"peak RSS {peakRss >> 20} MiB is over the bound {MaxRssBytes >> 20} MiB");
        Assert.True(dbBytes < MaxDatabaseBytes, $"database {dbBytes >> 20} MiB is over the bound {MaxDatabaseBytes >> 20} MiB");
        Console.WriteLine($"flood: {Requests} requests in {elapsed:0.0} s, {served} served, {limited} answered 429, peak RSS {peakRss >> 20} MiB, database {dbBytes >> 10} KiB");
    }

    private static long Rss(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
