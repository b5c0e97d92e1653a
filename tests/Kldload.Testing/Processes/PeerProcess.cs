using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Kldload.Testing.Processes;

/// <summary>
/// A process a test started (a peer client or server, a tool, or kldload itself), with its standard
/// output and error captured line by line, apart and together. It is stopped by its own PID, never by
/// name. Every wait is bounded.
/// </summary>
public sealed class PeerProcess : IDisposable, IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly ConcurrentQueue<string> _stderr = new();

    private PeerProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Capture(e.Data, _stdout);
        _process.ErrorDataReceived += (_, e) => Capture(e.Data, _stderr);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    /// <summary>Standard output and error, interleaved as the lines arrived.</summary>
    public string Output => string.Join('\n', _output);

    public string Stdout => string.Join('\n', _stdout);

    public string Stderr => string.Join('\n', _stderr);

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The command line, for messages.</summary>
    public string CommandLine => $"{_process.StartInfo.FileName} {string.Join(' ', _process.StartInfo.ArgumentList)}";

    /// <summary>Starts <paramref name="file"/>; <paramref name="environment"/> is added to the child's environment only.</summary>
    public static PeerProcess Start(string file, IEnumerable<string> args, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }

        return new PeerProcess(Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}"));
    }

    /// <summary>Runs to completion (bounded: a timeout kills it and throws) and returns exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(TimeSpan timeout, string file, params string[] args)
    {
        using var p = Start(file, args);
        await p.WaitForExitAsync(timeout);
        return (p.ExitCode, p.Output);
    }

    /// <summary>What a bounded run ended with (standard output, then standard error): a process over its limit is killed and reported, not thrown.</summary>
    public sealed record Result(int ExitCode, string Output, bool TimedOut);

    /// <summary>Runs to completion or until <paramref name="limit"/> (then kills it) and reports which.</summary>
    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, TimeSpan limit)
    {
        using var p = Start(file, args);
        var finished = await p.TryWaitForExitAsync(limit);
        if (!finished)
        {
            p.Kill();
            p._process.WaitForExit();
        }

        // Standard output first, then standard error: a pipeline's result (say a checksum) stays at the
        // start however the tool's warnings interleave with it.
        return new Result(p.ExitCode, string.Join('\n', new[] { p.Stdout, p.Stderr }.Where(x => x.Length > 0)), !finished);
    }

    /// <summary>Runs a command that must succeed (setup steps such as <c>ip netns add</c>); throws with its output otherwise.</summary>
    public static async Task MustRunAsync(string file, params string[] args)
    {
        var (code, output) = await RunAsync(TimeSpan.FromSeconds(30), file, args);
        if (code != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({code}): {output}");
        }
    }

    /// <summary>Waits for the exit; on timeout kills the process and throws with its output.</summary>
    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        if (!await TryWaitForExitAsync(timeout))
        {
            Kill();
            throw new TimeoutException($"process {CommandLine} did not finish in {timeout}: {Output}");
        }
    }

    /// <summary>Waits for the exit; false (the process left running) on timeout.</summary>
    public async Task<bool> TryWaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        _process.WaitForExit(); // drains the asynchronous output readers
        return true;
    }

    /// <summary>Waits until <paramref name="pattern"/> appears in the output; throws if the process exits first or on timeout.</summary>
    public async Task<Match> WaitForOutputAsync(Regex pattern, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var m = pattern.Match(Output);
            if (m.Success)
            {
                return m;
            }

            if (_process.HasExited)
            {
                await Task.Delay(100);
                m = pattern.Match(Output);
                return m.Success ? m : throw new InvalidOperationException($"exited with {_process.ExitCode} before /{pattern}/: {Output}");
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"no /{pattern}/ within {timeout}: {Output}");
    }

    /// <summary>Sends a signal to this process by PID with kill(1) (SIGUSR1 renews and SIGUSR2 releases for udhcpc).</summary>
    public void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-" + name, Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit(5000);
    }

    /// <summary>SIGKILL to this process and its children, by PID.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private void Capture(string? line, ConcurrentQueue<string> stream)
    {
        if (line is not null)
        {
            stream.Enqueue(line);
            _output.Enqueue(line);
        }
    }
}
