using System.Diagnostics;
using System.Text;

namespace Kldload.Tftp.Tests.Peer;

/// <summary>Runs an external program with a time limit; kills only the process it started.</summary>
internal static class PeerProcess
{
    public sealed record Result(int ExitCode, string Output, bool TimedOut);

    public static async Task<Result> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan limit)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {fileName}");
        var output = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(limit);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }

        output.Append(await stdout).Append(await stderr);
        return new Result(process.ExitCode, output.ToString(), timedOut);
    }

    /// <summary>Runs a command that must succeed (setup steps such as <c>ip netns add</c>).</summary>
    public static async Task MustRunAsync(string fileName, params string[] arguments)
    {
        var result = await RunAsync(fileName, arguments, TimeSpan.FromSeconds(30));
        if (result.ExitCode != 0 || result.TimedOut)
        {
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} failed ({result.ExitCode}): {result.Output}");
        }
    }
}
