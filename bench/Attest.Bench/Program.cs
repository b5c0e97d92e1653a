using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Kldload.Attest.Bench;

// Fleet load generator for kldload's boot and attestation path (bench/attest/run.sh drives it).
//   rate  --nodes C --seconds S [--warmup W]  C nodes boot back to back (reboot after Ready) for S seconds
//   storm --nodes N --window W                N new nodes arrive evenly within W seconds, one boot each
// Common: --server URL (required), --server-pid PID (server CPU seconds per attestation),
//         --rsa-share F (share of RSA-2048 EK nodes, default 0.5), --keys DIR, --first K (key offset).
//   seed --data DIR --nodes N                           N nodes into a stopped data directory
//   inventory --server URL --nodes N [--requests R] [--boots B] [--server-pid PID]
//                                                       boot path latency with N seeded nodes (InventoryBench)
if (args is ["seed", "--data", var seedDir, "--nodes", var seedCount])
{
    return InventoryBench.Seed(seedDir, int.Parse(seedCount, CultureInfo.InvariantCulture));
}

if (args is ["inventory", ..] && Options.Parse(["rate", .. args[1..]]) is { } inventory)
{
    var map = Enumerable.Range(0, (args.Length - 1) / 2).ToDictionary(i => args[1 + (2 * i)].TrimStart('-'), i => args[2 + (2 * i)]);
    int Int(string key, int fallback) => map.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
    return await InventoryBench.RunAsync(inventory.Server, Int("nodes", 0), Int("requests", 200), Int("boots", 20), inventory.ServerPid, inventory.Keys);
}

var options = Options.Parse(args);
if (options is null)
{
    Console.Error.WriteLine("usage: Kldload.Attest.Bench (rate|storm) --server URL [--nodes N] [--seconds S] [--warmup W] [--window W] [--server-pid PID] [--rsa-share F] [--keys DIR] [--first K]");
    return 2;
}

var say = (string s) => Console.WriteLine(s);
var cache = new KeyCache(options.Keys);
var rsaCount = (int)Math.Round(options.Nodes * options.RsaShare);
var rsaKeys = cache.Keys(SimulatedEk.Rsa2048, 2 * (options.First + rsaCount), say);
var eccKeys = cache.Keys(SimulatedEk.EccP256, 2 * (options.First + options.Nodes - rsaCount), say);
var nodes = new FleetNode[options.Nodes];
for (var i = 0; i < options.Nodes; i++)
{
    var rsa = i < rsaCount;
    var k = options.First + (rsa ? i : i - rsaCount);
    var keys = rsa ? rsaKeys : eccKeys;
    var tpm = new SimulatedTpm(rsa ? SimulatedEk.Rsa2048 : SimulatedEk.EccP256, keys[2 * k], keys[(2 * k) + 1], options.First + i);
    var id = options.First + i;
    var mac = $"02:4b:{(id >> 24) & 0xff:x2}:{(id >> 16) & 0xff:x2}:{(id >> 8) & 0xff:x2}:{id & 0xff:x2}";
    nodes[i] = new FleetNode(tpm, mac, $"00000000-0000-4000-8000-{id:x12}");
}

using var handler = new SocketsHttpHandler
{
    MaxConnectionsPerServer = options.Nodes,
    PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
    ConnectCallback = async (context, ct) =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(context.DnsEndPoint, ct);
        return new NetworkStream(socket, ownsSocket: true);
    },
};
using var http = new HttpClient(handler) { BaseAddress = options.Server, Timeout = TimeSpan.FromSeconds(120) };
var clock = Stopwatch.StartNew();
var cpuBefore = ServerCpu.Seconds(options.ServerPid);
var results = new List<BootTimings>();
var failures = 0;
var abandoned = 0;
string? firstFailure = null;

// A rate row ends at its time: boots still in flight then are abandoned (not failures). A storm
// waits for its last node, within a bound.
using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(options.Mode == "rate" ? options.Seconds : options.Window + options.Seconds + 300));

async Task Boot(FleetNode node)
{
    try
    {
        var t = await node.BootAsync(http, clock, stop.Token);
        lock (results)
        {
            results.Add(t);
        }
    }
    catch (OperationCanceledException) when (stop.IsCancellationRequested)
    {
        Interlocked.Increment(ref abandoned);
    }
#pragma warning disable CA1031 // any failure of a boot is counted and reported, never fatal to the run
    catch (Exception e)
#pragma warning restore CA1031
    {
        if (Interlocked.Increment(ref failures) == 1)
        {
            firstFailure = e is FleetStepException ? e.Message : e.ToString();
        }
    }
}

double measuredFrom, measuredTo;
if (options.Mode == "rate")
{
    var end = options.Seconds * 1000;
    await Task.WhenAll(nodes.Select(n => Task.Run(async () =>
    {
        while (clock.Elapsed.TotalMilliseconds < end && failures == 0 && !stop.IsCancellationRequested)
        {
            await Boot(n);
        }
    })));
    measuredFrom = options.Warmup * 1000;
    measuredTo = end;
}
else
{
    var spacing = options.Window * 1000 / options.Nodes;
    await Task.WhenAll(nodes.Select((n, i) => Task.Run(async () =>
    {
        var due = TimeSpan.FromMilliseconds(i * spacing) - clock.Elapsed;
        if (due > TimeSpan.Zero)
        {
            await Task.Delay(due);
        }

        await Boot(n);
    })));
    measuredFrom = 0;
    measuredTo = clock.Elapsed.TotalMilliseconds;
}

var cpuAfter = ServerCpu.Seconds(options.ServerPid);
var all = results.ToList();
var window = options.Mode == "rate" ? all.Where(r => r.EndedMs >= measuredFrom && r.EndedMs <= measuredTo).ToList() : all;
var seconds = (measuredTo - measuredFrom) / 1000;
var rate = window.Count / seconds;
double P(IEnumerable<double> xs, double q)
{
    var sorted = xs.Order().ToArray();
    return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{options.Mode}: {options.Nodes} nodes ({rsaCount} RSA-2048 EK, {options.Nodes - rsaCount} ECC P-256 EK), {all.Count} boots to Ready, {failures} failed, {abandoned} in flight at the end{(firstFailure is null ? string.Empty : $" (first: {firstFailure})")}"));
foreach (var step in Enum.GetValues<BootStep>())
{
    var xs = window.Select(r => r.StepMs[(int)step]).ToList();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {step,-9} p50 {P(xs, 0.5),8:0.0} ms  p99 {P(xs, 0.99),8:0.0} ms"));
}

var totals = window.Select(r => r.EndedMs - r.StartedMs).ToList();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"boot",-9} p50 {P(totals, 0.5),8:0.0} ms  p99 {P(totals, 0.99),8:0.0} ms  (script to Ready)"));
var cpuPer = cpuBefore is { } b && cpuAfter is { } a && all.Count > 0 ? (a - b) / all.Count * 1000 : double.NaN;
if (options.Mode == "rate")
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  {rate:0.0} attestations/s over {seconds:0.0} s after {options.Warmup:0.#} s warm-up; server CPU {cpuPer:0.00} ms per attestation"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"result mode=rate nodes={options.Nodes} boots={all.Count} rate={rate:0.0} p99_ms={P(totals, 0.99):0.0} cpu_ms={cpuPer:0.000} failures={failures}"));
}
else
{
    var lastArrival = all.Count == 0 ? double.NaN : all.Max(r => r.StartedMs);
    var lastReady = all.Count == 0 ? double.NaN : all.Max(r => r.EndedMs);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  last arrival at {lastArrival / 1000:0.00} s, last Ready at {lastReady / 1000:0.00} s: {(lastReady - lastArrival) / 1000:0.00} s after the last arrival; server CPU {cpuPer:0.00} ms per attestation"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"result mode=storm nodes={options.Nodes} ready={all.Count} last_ready_s={lastReady / 1000:0.00} after_last_arrival_s={(lastReady - lastArrival) / 1000:0.00} p99_ms={P(totals, 0.99):0.0} cpu_ms={cpuPer:0.000} failures={failures}"));
}

foreach (var n in nodes)
{
    n.Dispose();
}

return failures == 0 ? 0 : 1;

/// <summary>The generator's command line.</summary>
internal sealed record Options(string Mode, Uri Server, int Nodes, double Seconds, double Warmup, double Window, int? ServerPid, double RsaShare, string Keys, int First)
{
    public static Options? Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("rate" or "storm"))
        {
            return null;
        }

        var map = new Dictionary<string, string>();
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            map[args[i].TrimStart('-')] = args[i + 1];
        }

        if (!map.TryGetValue("server", out var server))
        {
            return null;
        }

        double D(string key, double fallback) => map.TryGetValue(key, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
        var cacheHome = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return new Options(
            args[0],
            new Uri(server),
            (int)D("nodes", args[0] == "rate" ? 1024 : 1000),
            D("seconds", 20),
            D("warmup", 5),
            D("window", 10),
            map.TryGetValue("server-pid", out var pid) ? int.Parse(pid, CultureInfo.InvariantCulture) : null,
            D("rsa-share", 0.5),
            map.GetValueOrDefault("keys") ?? Path.Combine(cacheHome, "kldload-attest-bench"),
            (int)D("first", 0));
    }
}

/// <summary>CPU seconds (user + system) a process has used, from <c>/proc/PID/stat</c>.</summary>
internal static class ServerCpu
{
    public static double? Seconds(int? pid)
    {
        if (pid is null)
        {
            return null;
        }

        // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ticks / 100.0;
    }
}
