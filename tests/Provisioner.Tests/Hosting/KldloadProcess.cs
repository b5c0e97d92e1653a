using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Kldload.Provisioner.Tests.Hosting;

/// <summary>
/// The real <c>kldload</c> binary run as a child process, as an operator runs it. Output is
/// captured; the process is stopped by its own PID when the test ends.
/// </summary>
internal sealed partial class KldloadProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly ConcurrentQueue<string> _stderr = new();

    private KldloadProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) { _stdout.Enqueue(e.Data); } };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { _stderr.Enqueue(e.Data); } };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public string Stdout => string.Join('\n', _stdout);

    public string Stderr => string.Join('\n', _stderr);

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static KldloadProcess Start(string workingDirectory, params string[] args) => Start(workingDirectory, null, args);

    /// <summary>Starts kldload with extra environment variables for the child only (never the test process's own).</summary>
    public static KldloadProcess Start(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        StartFile(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", workingDirectory, environment,
            [Path.Combine(AppContext.BaseDirectory, "kldload.dll"), .. args]);

    /// <summary>Starts a kldload executable other than the one built beside the tests (a packaged one).</summary>
    public static KldloadProcess StartFile(string executable, string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo(executable)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return new KldloadProcess(Process.Start(psi)!);
    }

    /// <summary>Runs a command to completion and returns its exit code.</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string workingDirectory, params string[] args) =>
        RunAsync(workingDirectory, null, args);

    /// <summary>Runs a command to completion with extra environment variables for the child only.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        await using var p = Start(workingDirectory, environment, args);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p._process.WaitForExitAsync(cts.Token);
        p._process.WaitForExit(); // drains the asynchronous output readers
        return (p.ExitCode, p.Stdout, p.Stderr);
    }

    /// <summary>Waits for the start-up line and returns the first URL kldload listens on.</summary>
    public async Task<Uri> WaitForListeningAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var match = ServingOn().Match(Stdout);
            if (match.Success)
            {
                return new Uri(match.Groups[1].Value);
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"kldload exited with {_process.ExitCode}: {Stdout}\n{Stderr}");
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"kldload did not start within {timeout}: {Stdout}\n{Stderr}");
    }

    /// <summary>Sends a signal to this process (by its PID) with kill(1).</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            _process.WaitForExit();
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"serving on (https?://[^\s,;]+)")]
    private static partial Regex ServingOn();
}
