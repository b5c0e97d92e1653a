using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Storage;

namespace Kldload.Attest.Bench;

/// <summary>
/// Latency of the boot path against the size of the inventory (bench/attest/inventory.sh):
/// <c>seed</c> writes N nodes into a stopped data directory with the provisioner's own store (half
/// Ready with an EK fingerprint, half Discovered; MAC, UUID and name each; no events), and
/// <c>inventory</c> then times, one request at a time against the running server, the boot script
/// for new MACs, for MACs already in the inventory, and complete attestations of new nodes.
/// </summary>
internal static class InventoryBench
{
    /// <summary>The MAC of seeded node <paramref name="i"/> (02:5e:..., apart from the fleet's 02:4b:...).</summary>
    public static string SeededMac(int i) => $"02:5e:{(i >> 24) & 0xff:x2}:{(i >> 16) & 0xff:x2}:{(i >> 8) & 0xff:x2}:{i & 0xff:x2}";

    /// <summary><c>seed --data DIR --nodes N</c>: N nodes in transactions of 10,000.</summary>
    public static int Seed(string dataDir, int count)
    {
        var clock = Stopwatch.StartNew();
        using var db = LiteKldloadDatabase.Open(Path.Combine(dataDir, "kldload.db"));
        var store = new LiteDbNodeStore(db);
        var now = DateTime.UtcNow;
        for (var start = 0; start < count; start += 10_000)
        {
            var end = Math.Min(count, start + 10_000);
            store.InTransaction(() =>
            {
                for (var i = start; i < end; i++)
                {
                    var ready = i % 2 == 1;
                    store.Upsert(new NodeRecord
                    {
                        Id = $"5e{i:x10}",
                        Name = $"seed-{i:x8}",
                        Macs = [SeededMac(i)],
                        Uuid = $"00000000-0000-4000-9000-{i:x12}",
                        EkFingerprint = ready ? Convert.ToHexStringLower(SHA256.HashData(BitConverter.GetBytes(i))) : null,
                        State = ready ? NodeState.Ready : NodeState.Discovered,
                        Architecture = "x86_64",
                        Platform = "pcbios",
                        FirstSeenAt = now,
                        LastSeenAt = now,
                    });
                }

                return 0;
            });
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seeded {count} nodes in {clock.Elapsed.TotalSeconds:0.0} s"));
        return 0;
    }

    /// <summary>
    /// <c>inventory --server URL --nodes N --requests R --boots B [--server-pid PID]</c>: R scripts for
    /// new MACs, R for seeded (Discovered) MACs, B attestations of new ECC nodes, each one at a time.
    /// </summary>
    public static async Task<int> RunAsync(Uri server, int seeded, int requests, int boots, int? serverPid, string keys)
    {
        using var http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(60) };
        var clock = Stopwatch.StartNew();

        // Warm-up (the JIT's tiers, the connection, the page cache): scripts and attestations of
        // nodes outside the measured sets.
        const int warmBoots = 5;
        var cache = new KeyCache(keys);
        var ecc = cache.Keys(SimulatedEk.EccP256, 2 * (boots + warmBoots), Console.WriteLine);
        var nodes = Enumerable.Range(0, boots + warmBoots).Select(i => new FleetNode(
            new SimulatedTpm(SimulatedEk.EccP256, ecc[2 * i], ecc[(2 * i) + 1], i),
            $"02:4b:fe:00:{(i >> 8) & 0xff:x2}:{i & 0xff:x2}",
            $"00000000-0000-4000-a000-{i:x12}")).ToList();
        for (var i = 0; i < 200; i++)
        {
            await ScriptAsync(http, $"02:4c:ff:00:{i >> 8:x2}:{i & 0xff:x2}");
        }

        for (var i = boots; i < boots + warmBoots; i++)
        {
            await nodes[i].BootAsync(http, clock, CancellationToken.None);
        }

        var fresh = await TimeAsync(requests, serverPid, i => ScriptAsync(http, $"02:4c:00:{(i >> 16) & 0xff:x2}:{(i >> 8) & 0xff:x2}:{i & 0xff:x2}"));
        (double P50, double P99, double Cpu)? known = seeded == 0 ? null : await TimeAsync(requests, serverPid, i => ScriptAsync(http, SeededMac(2 * (int)((long)i * 7919 % Math.Max(1, seeded / 2)))));
        var attest = await TimeAsync(boots, serverPid, i => nodes[i].BootAsync(http, clock, CancellationToken.None));
        foreach (var n in nodes)
        {
            n.Dispose();
        }

        string Row(string what, (double P50, double P99, double Cpu)? r) => r is { } x
            ? string.Create(CultureInfo.InvariantCulture, $"  {what,-26} p50 {x.P50,8:0.00} ms  p99 {x.P99,8:0.00} ms  server CPU {x.Cpu,7:0.00} ms each")
            : $"  {what,-26} (no seeded nodes)";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"inventory {seeded} nodes:"));
        Console.WriteLine(Row("script, new MAC", fresh));
        Console.WriteLine(Row("script, MAC in inventory", known));
        Console.WriteLine(Row("attestation, new node", attest));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"result mode=inventory nodes={seeded} new_p50_ms={fresh.P50:0.00} new_p99_ms={fresh.P99:0.00} new_cpu_ms={fresh.Cpu:0.00} known_p50_ms={known?.P50 ?? double.NaN:0.00} known_cpu_ms={known?.Cpu ?? double.NaN:0.00} attest_p50_ms={attest.P50:0.00} attest_cpu_ms={attest.Cpu:0.00}"));
        return 0;
    }

    private static async Task ScriptAsync(HttpClient http, string mac)
    {
        using var response = await http.GetAsync(new Uri($"/boot.ipxe?mac={mac}&platform=pcbios&arch=x86_64", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK || !text.Contains("kldload.token=", StringComparison.Ordinal))
        {
            throw new FleetStepException($"{mac}: /boot.ipxe answered {(int)response.StatusCode}: {text[..Math.Min(text.Length, 200)]}");
        }
    }

    /// <summary>Runs <paramref name="count"/> operations one after another: p50, p99 and the server's CPU ms per operation.</summary>
    private static async Task<(double P50, double P99, double Cpu)> TimeAsync(int count, int? serverPid, Func<int, Task> operation)
    {
        var times = new double[count];
        var cpuBefore = ServerCpu.Seconds(serverPid);
        for (var i = 0; i < count; i++)
        {
            var t = Stopwatch.GetTimestamp();
            await operation(i);
            times[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        }

        var cpuAfter = ServerCpu.Seconds(serverPid);
        Array.Sort(times);
        double P(double q) => times[Math.Min(count - 1, (int)Math.Ceiling(q * count) - 1)];
        var cpu = cpuBefore is { } b && cpuAfter is { } a ? (a - b) / count * 1000 : double.NaN;
        return (P(0.5), P(0.99), cpu);
    }
}
