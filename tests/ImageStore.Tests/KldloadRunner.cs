using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Kldload.ImageStore.Tests;

/// <summary>
/// The real <c>kldload</c> binary (built next to the tests) run as a child process. Stopped by its
/// own PID when disposed.
/// </summary>
internal sealed partial class KldloadRunner : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly ConcurrentQueue<string> _stderr = new();

    private KldloadRunner(Process process)
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

    public static KldloadRunner Start(string dataDir, params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = dataDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "kldload.dll"));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.ArgumentList.Add($"--Kldload:DataDir={dataDir}");
        return new KldloadRunner(Process.Start(psi)!);
    }

    /// <summary>Runs <c>kldload ARGS --Kldload:DataDir=DIR</c> to completion (60 s at most).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string dataDir, params string[] args)
    {
        await using var p = Start(dataDir, args);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p._process.WaitForExitAsync(cts.Token);
        p._process.WaitForExit(); // drains the output readers
        return (p._process.ExitCode, p.Stdout, p.Stderr);
    }

    /// <summary>Starts <c>kldload serve</c> on an ephemeral loopback port and returns its base URL.</summary>
    public static async Task<(KldloadRunner Server, Uri Url)> ServeAsync(string dataDir)
    {
        var p = Start(dataDir, "serve", "--urls", "http://127.0.0.1:0", "--Tftp:Enabled=false");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var m = ServingOn().Match(p.Stdout);
            if (m.Success)
            {
                return (p, new Uri(m.Groups[1].Value));
            }

            if (p.HasExited)
            {
                throw new InvalidOperationException($"kldload serve exited: {p.Stdout}\n{p.Stderr}");
            }

            await Task.Delay(50);
        }

        await p.DisposeAsync();
        throw new TimeoutException("kldload serve did not start within 30 s");
    }

    /// <summary>SIGKILL by PID: the process gets no chance to clean up.</summary>
    public void KillHard()
    {
        _process.Kill();
        _process.WaitForExit(10_000);
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

/// <summary>curl(1), the client iPXE-era tooling and operators use, run against kldload.</summary>
internal static class Curl
{
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("--silent");
        psi.ArgumentList.Add("--show-error");
        psi.ArgumentList.Add("--max-time");
        psi.ArgumentList.Add("30");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout, await stderr);
    }
}
