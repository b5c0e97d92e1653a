using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Kldload.Agent.Tests.Resident;

/// <summary>Runs a tool to completion (2 minutes at most) and returns its exit code and its output (standard output, then error).</summary>
internal static class Command
{
    public static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var r = ExternalTool.TryRun(file, args, timeout: TimeSpan.FromSeconds(120));
        return (r.ExitCode, r.StdOut + r.StdErr);
    }

    public static string Ok(string file, params string[] args)
    {
        var (code, text) = Run(file, args);
        Assert.True(code == 0, $"{file} {string.Join(' ', args)} exited {code}: {text}");
        return text;
    }
}

/// <summary>A long-running child (kldload, an agent, swtpm) whose lines are kept; stopped by its own PID.</summary>
internal sealed class ChildProcess
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ITestOutputHelper _output;
    private readonly string _name;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private ChildProcess(Process process, ITestOutputHelper output, string name)
    {
        _process = process;
        _output = output;
        _name = name;
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public IReadOnlyCollection<string> Lines => _lines;

    public string Output => string.Join('\n', _lines);

    public int Count(Func<string, bool> match) => _lines.Count(match);

    public static ChildProcess Start(ITestOutputHelper output, string name, string file, params string[] args) => Start(output, name, null, file, args);

    public static ChildProcess Start(ITestOutputHelper output, string name, IReadOnlyDictionary<string, string>? environment, string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }

        return new ChildProcess(Process.Start(psi)!, output, name);
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        _lines.Enqueue(line);
        try
        {
            _output.WriteLine($"[{_name} {_clock.Elapsed.TotalSeconds:0.00}] {line}");
        }
        catch (InvalidOperationException)
        {
            // the test has ended
        }
    }

    public async Task WaitForAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!_lines.Any(match))
        {
            if (_process.HasExited && !_lines.Any(match))
            {
                Assert.Fail($"{_name} exited ({_process.ExitCode}) before the expected line:\n{Output}");
            }

            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"{_name}: the expected line did not come within {timeout.TotalSeconds} s:\n{Output}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>SIGTERM to this PID (kldload removes its hub interface then), waiting up to 20 s for the exit.</summary>
    public async Task TerminateAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        Command.Run("kill", "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    public async Task StopAsync()
    {
        await TerminateAsync();
        _process.Dispose();
    }
}
