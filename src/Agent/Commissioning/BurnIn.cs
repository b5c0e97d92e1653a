using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Kldload.Contracts;
using Microsoft.Win32.SafeHandles;

namespace Kldload.Agent.Commissioning;

/// <summary>One disk's read pass: bytes read sequentially from the start and read errors.</summary>
internal sealed record DiskReadResult(string Name, long BytesRead, int Errors, bool Complete);

/// <summary>The memory check: bytes allocated, full write-and-verify passes over them, and the number of mismatching bytes.</summary>
internal sealed record MemoryCheckResult(long Bytes, int Passes, long Mismatches)
{
    public bool Ok => Mismatches == 0;
}

/// <summary>The CPU check: hash chains computed on all cores and how many gave a wrong result.</summary>
internal sealed record CpuCheckResult(int Cores, long Chains, long Wrong)
{
    public bool Ok => Wrong == 0 && Chains > 0;
}

/// <summary>
/// The burn-in of issue 16 (<c>kldload.burnin=N</c>): a CPU stress (every core computes a fixed
/// SHA-256 chain and compares it with the one computed once), a memory check (a bounded share of
/// MemAvailable written with patterns and read back) and a sequential read pass over each whole-disk
/// block device, within N seconds in all (a third each; the disks share theirs). Each part takes its
/// size, time and paths so the tests can run it small and on temp files.
/// </summary>
internal static class BurnIn
{
    /// <summary>SHA-256 rounds in one chain.</summary>
    public const int ChainLength = 4096;

    /// <summary>The memory check uses at most this much, whatever MemAvailable says.</summary>
    public const long MaxMemoryBytes = 4L << 30;

    /// <summary>The disk pass reads this much at a time.</summary>
    public const int ReadBlock = 1 << 20;

    /// <summary>A disk's pass stops after this many read errors.</summary>
    public const int MaxReadErrors = 16;

    private const int MemoryChunk = 64 << 20;

    private static readonly string[] VirtualDiskPrefixes = ["loop", "ram", "zram"];

    /// <summary>Runs the three parts within <paramref name="seconds"/> and prints each result through <paramref name="say"/>.</summary>
    public static BurnInReport Run(int seconds, string root, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(say);
        var started = Stopwatch.GetTimestamp();
        var part = TimeSpan.FromSeconds(seconds / 3.0);
        say($"burn-in: {seconds} s (cpu, memory, disks: {part.TotalSeconds:0.#} s each)");

        var cpu = CpuCheck(part, Environment.ProcessorCount);
        say($"burn-in: cpu {(cpu.Ok ? "ok" : "FAILED")}: {cpu.Chains} hash chains on {cpu.Cores} cores, {cpu.Wrong} wrong");

        var meminfo = Path.Combine(root, "proc/meminfo");
        var bytes = File.Exists(meminfo) ? MemoryBudget(File.ReadAllText(meminfo)) : 0;
        var memory = MemoryCheck(bytes, part);
        say($"burn-in: memory {(memory.Ok ? "ok" : "FAILED")}: {memory.Bytes >> 20} MiB, {memory.Passes} write-and-verify passes, {memory.Mismatches} bytes wrong");

        var names = WholeDisks(Path.Combine(root, "sys/block"));
        var disks = new List<DiskReadResult>();
        foreach (var name in names)
        {
            var share = part / names.Count;
            var disk = ReadDisk(name, Path.Combine(root, "dev", name), share);
            disks.Add(disk);
            say($"burn-in: disk {name} {(disk.Errors == 0 ? "ok" : "FAILED")}: {disk.BytesRead >> 20} MiB read{(disk.Complete ? " (whole disk)" : string.Empty)}, {disk.Errors} read errors");
        }

        var passed = cpu.Ok && memory.Ok && disks.All(d => d.Errors == 0);
        var failures = new List<string>();
        if (!cpu.Ok)
        {
            failures.Add($"cpu: {cpu.Wrong} of {cpu.Chains} hash chains wrong");
        }

        if (!memory.Ok)
        {
            failures.Add($"memory: {memory.Mismatches} bytes wrong in {memory.Bytes >> 20} MiB");
        }

        failures.AddRange(disks.Where(d => d.Errors > 0).Select(d => $"disk {d.Name}: {d.Errors} read errors"));
        var detail = passed
            ? $"cpu {cpu.Cores} cores, memory {memory.Bytes >> 20} MiB, {disks.Count} disks read without errors"
            : string.Join("; ", failures);
        var elapsed = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1);
        say($"burn-in: {(passed ? "passed" : "FAILED")} in {elapsed.ToString("0.0", CultureInfo.InvariantCulture)} s: {detail}");
        return new BurnInReport(passed, elapsed, cpu.Ok, memory.Ok, [.. disks.Select(d => new BurnInDiskReport(d.Name, d.BytesRead, d.Errors))], detail);
    }

    /// <summary>The chain every core must reproduce: SHA-256 applied <see cref="ChainLength"/> times to a fixed seed.</summary>
    public static byte[] Chain()
    {
        Span<byte> value = stackalloc byte[32];
        "kldload burn-in"u8.CopyTo(value);
        for (var i = 0; i < ChainLength; i++)
        {
            SHA256.HashData(value, value);
        }

        return value.ToArray();
    }

    /// <summary>Every one of <paramref name="cores"/> threads computes chains until <paramref name="duration"/> ends (at least one each).</summary>
    public static CpuCheckResult CpuCheck(TimeSpan duration, int cores)
    {
        var expected = Chain();
        long chains = 0, wrong = 0;
        var started = Stopwatch.GetTimestamp();
        var threads = Enumerable.Range(0, Math.Max(1, cores)).Select(_ => new Thread(() =>
        {
            do
            {
                var ok = Chain().AsSpan().SequenceEqual(expected);
                Interlocked.Increment(ref chains);
                if (!ok)
                {
                    Interlocked.Increment(ref wrong);
                }
            }
            while (Stopwatch.GetElapsedTime(started) < duration);
        })
        { IsBackground = true }).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        return new CpuCheckResult(threads.Count, chains, wrong);
    }

    /// <summary>Half of MemAvailable (<c>/proc/meminfo</c>), at most <see cref="MaxMemoryBytes"/>; 0 when it is not there.</summary>
    public static long MemoryBudget(string meminfo)
    {
        ArgumentNullException.ThrowIfNull(meminfo);
        foreach (var line in meminfo.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && parts[0] == "MemAvailable:" && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
            {
                return Math.Min(kib * 1024 / 2, MaxMemoryBytes);
            }
        }

        return 0;
    }

    /// <summary>
    /// Allocates <paramref name="bytes"/> in chunks, writes each with a pattern (0x55, 0xAA, then each
    /// byte's offset) and reads it back, pass after pass until <paramref name="duration"/> ends; every
    /// chunk gets at least one pattern.
    /// </summary>
    public static MemoryCheckResult MemoryCheck(long bytes, TimeSpan duration)
    {
        var started = Stopwatch.GetTimestamp();
        var chunks = new List<byte[]>();
        for (var left = bytes; left > 0; left -= MemoryChunk)
        {
            chunks.Add(GC.AllocateUninitializedArray<byte>((int)Math.Min(left, MemoryChunk)));
        }

        long mismatches = 0;
        for (var pass = 1; ; pass++)
        {
            foreach (var chunk in chunks)
            {
                mismatches += WriteAndVerify(chunk, (pass - 1) % 3);
            }

            if (chunks.Count == 0 || Stopwatch.GetElapsedTime(started) >= duration)
            {
                return new MemoryCheckResult(bytes, chunks.Count == 0 ? 0 : pass, mismatches);
            }
        }
    }

    private static long WriteAndVerify(byte[] chunk, int pattern)
    {
        switch (pattern)
        {
            case 0:
                chunk.AsSpan().Fill(0x55);
                break;
            case 1:
                chunk.AsSpan().Fill(0xAA);
                break;
            default:
                for (var i = 0; i < chunk.Length; i++)
                {
                    chunk[i] = (byte)(i ^ (i >> 8));
                }

                break;
        }

        long wrong = 0;
        for (var i = 0; i < chunk.Length; i++)
        {
            var want = pattern switch { 0 => (byte)0x55, 1 => (byte)0xAA, _ => (byte)(i ^ (i >> 8)) };
            if (chunk[i] != want)
            {
                wrong++;
            }
        }

        return wrong;
    }

    /// <summary>Whole-disk block devices under <paramref name="sysBlock"/> (<c>/sys/block</c>), without loop, ram and zram, in name order.</summary>
    public static IReadOnlyList<string> WholeDisks(string sysBlock)
    {
        if (!Directory.Exists(sysBlock))
        {
            return [];
        }

        return [.. Directory.EnumerateFileSystemEntries(sysBlock)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => !VirtualDiskPrefixes.Any(p => n.StartsWith(p, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// Reads <paramref name="path"/> sequentially from the start in <see cref="ReadBlock"/> blocks until
    /// its end or <paramref name="duration"/>; an unreadable block counts one error and is skipped, a
    /// device that cannot be opened is one error; the pass stops after <see cref="MaxReadErrors"/>.
    /// </summary>
    public static DiskReadResult ReadDisk(string name, string path, TimeSpan duration)
    {
        var started = Stopwatch.GetTimestamp();
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new DiskReadResult(name, 0, 1, false);
        }

        using (handle)
        {
            var buffer = new byte[ReadBlock];
            long offset = 0, read = 0;
            var errors = 0;
            while (errors < MaxReadErrors)
            {
                try
                {
                    var n = RandomAccess.Read(handle, buffer, offset);
                    if (n == 0)
                    {
                        return new DiskReadResult(name, read, errors, true);
                    }

                    read += n;
                    offset += n;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    errors++;
                    offset += ReadBlock;
                }

                if (Stopwatch.GetElapsedTime(started) >= duration)
                {
                    break;
                }
            }

            return new DiskReadResult(name, read, errors, false);
        }
    }
}
