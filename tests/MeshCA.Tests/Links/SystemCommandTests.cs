using Kldload.MeshCA.Links;

namespace Kldload.MeshCA.Tests.Links;

/// <summary>
/// Caps the process's thread pool, so it runs alone (after the parallel collections).
/// </summary>
[CollectionDefinition(nameof(ThreadPoolCapCollection), DisableParallelization = true)]
public sealed class ThreadPoolCapCollection;

[Collection(nameof(ThreadPoolCapCollection))]
public class SystemCommandTests
{
    [Fact]
    public void Run_ReturnsTheOutput_WithEveryThreadPoolThreadBlocked()
    {
        // The hub runs `wg` under the mesh lock while the control channel's watchers, woken by the
        // same roster change, hold every pool thread waiting for that lock. A command that needs a
        // pool thread to finish then waits for the pool to grow. Here the pool cannot grow at all,
        // so such a command would never return.
        ThreadPool.GetMaxThreads(out var maxWorkers, out var maxIo);
        ThreadPool.GetMinThreads(out var minWorkers, out _);
        var cap = Math.Max(minWorkers, Environment.ProcessorCount);
        // Not disposed: blockers still queued when the test ends run (and return at once) later.
        var release = new ManualResetEventSlim();
        Assert.True(ThreadPool.SetMaxThreads(cap, maxIo), $"cannot cap the pool at {cap} threads");
        try
        {
            var blockers = ThreadPool.ThreadCount + cap + 4;
            for (var i = 0; i < blockers; i++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(_ => release.Wait(), null);
            }

            var saturated = SpinWait.SpinUntil(() => ThreadPool.PendingWorkItemCount > 0, TimeSpan.FromSeconds(10));
            Assert.True(saturated, "the pool never had work waiting: it was not saturated");

            string? output = null;
            Exception? error = null;
            var caller = new Thread(() =>
            {
                try
                {
                    output = SystemCommand.Run(null, "sh", ["-c", "cat; echo to-stderr >&2"], stdin: "from-stdin\n");
                }
                catch (WireGuardLinkException e)
                {
                    error = e;
                }
            });
            caller.Start();

            // Not a time limit on the command: a deadlock detector (the command takes milliseconds).
            var returned = caller.Join(TimeSpan.FromSeconds(60));
            Assert.True(ThreadPool.PendingWorkItemCount > 0, "the pool drained while the command ran: the test proved nothing");
            release.Set();
            Assert.True(returned, "SystemCommand.Run did not return while the thread pool was saturated");
            caller.Join();
            Assert.Null(error);
            Assert.Equal("from-stdin\n", output);
        }
        finally
        {
            release.Set();
            ThreadPool.SetMaxThreads(maxWorkers, maxIo);
        }
    }

    [Fact]
    public void TryRun_ReportsTheExitCodeAndStandardError()
    {
        var (code, stdout, stderr) = SystemCommand.TryRun(null, "sh", ["-c", "echo out; echo err >&2; exit 3"]);
        Assert.Equal(3, code);
        Assert.Equal("out\n", stdout);
        Assert.Equal("err\n", stderr);
    }

    [Fact]
    public void Run_FailingCommand_ThrowsWithItsStandardError()
    {
        var e = Assert.Throws<WireGuardLinkException>(() => SystemCommand.Run(null, "sh", ["-c", "echo no-such-peer >&2; exit 1"]));
        Assert.Contains("no-such-peer", e.Message, StringComparison.Ordinal);
        Assert.Contains("failed (1)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_MissingTool_ThrowsNamingThePackages()
    {
        var e = Assert.Throws<WireGuardLinkException>(() => SystemCommand.Run(null, "kldload-no-such-tool", []));
        Assert.Contains("install iproute2 and wireguard-tools", e.Message, StringComparison.Ordinal);
    }
}
