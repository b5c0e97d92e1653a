using System.Text.RegularExpressions;

namespace Kldload.Testing.Processes;

/// <summary>
/// The real <c>kldload</c> binary run as a child process, as an operator runs it: the build copied
/// beside the tests (<c>dotnet kldload.dll</c>) or another executable (a packaged one). Output is
/// captured; the process is stopped by its own PID when the test ends.
/// </summary>
public sealed partial class KldloadProcess : IAsyncDisposable
{
    private readonly PeerProcess _process;

    private KldloadProcess(PeerProcess process) => _process = process;

    public int Pid => _process.Pid;

    public string Stdout => _process.Stdout;

    public string Stderr => _process.Stderr;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The dotnet host that runs the tests, and the arguments that run kldload.dll beside them.</summary>
    public static (string File, string[] Args) Command(params string[] args) =>
        (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", [Path.Combine(AppContext.BaseDirectory, "kldload.dll"), .. args]);

    public static KldloadProcess Start(string workingDirectory, params string[] args) => Start(workingDirectory, null, args);

    /// <summary>Starts kldload with extra environment variables for the child only (never the test process's own).</summary>
    public static KldloadProcess Start(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var (file, all) = Command(args);
        return StartFile(file, workingDirectory, environment, all);
    }

    /// <summary>Starts a kldload executable other than the one built beside the tests (a packaged one).</summary>
    public static KldloadProcess StartFile(string executable, string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        new(PeerProcess.Start(executable, args, workingDirectory, environment));

    /// <summary>Starts <c>kldload ARGS --Kldload:DataDir=DIR</c> in <paramref name="dataDir"/>.</summary>
    public static KldloadProcess StartOnData(string dataDir, params string[] args) => Start(dataDir, [.. args, $"--Kldload:DataDir={dataDir}"]);

    /// <summary>Runs a command to completion (60 s at most) and returns its exit code and output.</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string workingDirectory, params string[] args) =>
        RunAsync(workingDirectory, null, args);

    /// <summary>Runs a command to completion with extra environment variables for the child only.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        await using var p = Start(workingDirectory, environment, args);
        await p._process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (p.ExitCode, p.Stdout, p.Stderr);
    }

    /// <summary>Runs <c>kldload ARGS --Kldload:DataDir=DIR</c> to completion (60 s at most).</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunOnDataAsync(string dataDir, params string[] args) =>
        RunAsync(dataDir, [.. args, $"--Kldload:DataDir={dataDir}"]);

    /// <summary>Starts <c>kldload serve</c> on <paramref name="dataDir"/> on an ephemeral loopback port (no TFTP) and returns its base URL.</summary>
    public static async Task<(KldloadProcess Server, Uri Url)> ServeAsync(string dataDir)
    {
        var p = StartOnData(dataDir, "serve", "--urls", "http://127.0.0.1:0", "--Tftp:Enabled=false");
        try
        {
            return (p, await p.WaitForListeningAsync(TimeSpan.FromSeconds(30)));
        }
        catch
        {
            await p.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits for the start-up line and returns the first URL kldload listens on.</summary>
    public async Task<Uri> WaitForListeningAsync(TimeSpan timeout)
    {
        try
        {
            var match = await _process.WaitForOutputAsync(ServingOn(), timeout);
            return new Uri(match.Groups[1].Value);
        }
        catch (InvalidOperationException)
        {
            throw new InvalidOperationException($"kldload exited with {_process.ExitCode}: {Stdout}\n{Stderr}");
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"kldload did not start within {timeout}: {Stdout}\n{Stderr}");
        }
    }

    /// <summary>Sends a signal to this process (by its PID) with kill(1).</summary>
    public void Signal(string signal) => _process.Signal(signal);

    /// <summary>Waits for the exit; false on timeout (the process is left running).</summary>
    public Task<bool> WaitForExitAsync(TimeSpan timeout) => _process.TryWaitForExitAsync(timeout);

    /// <summary>SIGKILL by PID: the process gets no chance to clean up.</summary>
    public void KillHard() => _process.Kill();

    public async ValueTask DisposeAsync() => await _process.DisposeAsync();

    [GeneratedRegex(@"serving on (https?://[^\s,;]+)")]
    private static partial Regex ServingOn();
}
