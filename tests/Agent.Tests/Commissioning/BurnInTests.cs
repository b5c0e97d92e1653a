using Kldload.Agent.Commissioning;
using Kldload.Contracts;

namespace Kldload.Agent.Tests.Commissioning;

/// <summary>The burn-in parts run small: real hashing on real threads, real memory, real reads of temp files.</summary>
public sealed class BurnInTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("kldload-burnin-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Chain_IsDeterministicAndNotTheSeed()
    {
        var chain = BurnIn.Chain();
        Assert.Equal(32, chain.Length);
        Assert.Equal(chain, BurnIn.Chain());
        Assert.NotEqual(new byte[32], chain);
    }

    [Fact]
    public void CpuCheck_EveryCoreComputesTheSameChain()
    {
        var result = BurnIn.CpuCheck(TimeSpan.Zero, 3);
        Assert.True(result.Ok);
        Assert.Equal(3, result.Cores);
        Assert.True(result.Chains >= 3, $"{result.Chains} chains");
        Assert.Equal(0, result.Wrong);
    }

    [Fact]
    public void MemoryCheck_WritesAndVerifiesEveryByte()
    {
        const long bytes = (64L << 20) + 12345; // two chunks, the second one short
        var result = BurnIn.MemoryCheck(bytes, TimeSpan.Zero);
        Assert.True(result.Ok);
        Assert.Equal(bytes, result.Bytes);
        Assert.Equal(1, result.Passes);
    }

    [Theory]
    [InlineData("MemTotal:        2048000 kB\nMemAvailable:    1024000 kB\n", 1024000L * 1024 / 2)]
    [InlineData("MemTotal:    67108864 kB\nMemAvailable:    33554432 kB\n", BurnIn.MaxMemoryBytes)]
    [InlineData("MemTotal:        2048000 kB\n", 0L)]
    public void MemoryBudget_HalfOfAvailableCappedAtFourGiB(string meminfo, long expected) => Assert.Equal(expected, BurnIn.MemoryBudget(meminfo));

    [Fact]
    public void WholeDisks_SkipsLoopRamAndZram()
    {
        foreach (var name in new[] { "sdb", "nvme0n1", "loop0", "ram1", "zram0", "vda" })
        {
            Directory.CreateDirectory(Path.Combine(_root, "sys/block", name));
        }

        Assert.Equal(["nvme0n1", "sdb", "vda"], BurnIn.WholeDisks(Path.Combine(_root, "sys/block")));
        Assert.Empty(BurnIn.WholeDisks(Path.Combine(_root, "no/such/dir")));
    }

    [Fact]
    public void ReadDisk_ReadsATempFileToItsEnd()
    {
        var data = new byte[(3 * BurnIn.ReadBlock) + 777];
        new Random(16).NextBytes(data);
        var path = Path.Combine(_root, "vda");
        File.WriteAllBytes(path, data);
        var result = BurnIn.ReadDisk("vda", path, TimeSpan.FromHours(1));
        Assert.Equal(new DiskReadResult("vda", data.Length, 0, true), result);
    }

    [Fact]
    public void ReadDisk_UnreadablePath_CountsAReadError()
    {
        var missing = BurnIn.ReadDisk("sdz", Path.Combine(_root, "dev/sdz"), TimeSpan.FromHours(1));
        Assert.Equal(new DiskReadResult("sdz", 0, 1, false), missing);

        Directory.CreateDirectory(Path.Combine(_root, "dev/sdy")); // a directory cannot be read as a device
        var directory = BurnIn.ReadDisk("sdy", Path.Combine(_root, "dev/sdy"), TimeSpan.FromHours(1));
        Assert.Equal(1, directory.Errors);
        Assert.Equal(0, directory.BytesRead);
    }

    [Fact]
    public void Run_OnATree_ReadsEachDiskAndFailsOnTheUnreadableOne()
    {
        Directory.CreateDirectory(Path.Combine(_root, "proc"));
        File.WriteAllText(Path.Combine(_root, "proc/meminfo"), "MemTotal: 65536 kB\nMemAvailable: 32768 kB\n");
        foreach (var name in new[] { "vda", "vdb", "loop0" })
        {
            Directory.CreateDirectory(Path.Combine(_root, "sys/block", name));
        }

        Directory.CreateDirectory(Path.Combine(_root, "dev"));
        File.WriteAllBytes(Path.Combine(_root, "dev/vda"), new byte[4096]);
        File.WriteAllBytes(Path.Combine(_root, "dev/loop0"), new byte[4096]);
        var lines = new List<string>();

        var report = BurnIn.Run(1, _root, lines.Add);

        Assert.False(report.Passed);
        Assert.True(report.CpuOk);
        Assert.True(report.MemoryOk);
        Assert.Equal([new BurnInDiskReport("vda", 4096, 0), new BurnInDiskReport("vdb", 0, 1)], report.Disks);
        Assert.Contains("disk vdb: 1 read errors", report.Detail, StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("burn-in: memory ok: 16 MiB,", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("burn-in: FAILED", StringComparison.Ordinal));
    }
}
