using System.Diagnostics;

namespace Kldload.Testing.Processes;

/// <summary>
/// Runs a real command-line tool (wg, openssl, tpm2-tools, ip, curl) once, with text on standard input
/// and a bounded wait, and returns its output exactly as written (for long-running processes whose
/// output is watched line by line, see <see cref="PeerProcess"/>).
/// </summary>
public static class ExternalTool
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    /// <summary>Runs <paramref name="file"/> and throws with its stderr unless it exits 0.</summary>
    public static string Run(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null, IDictionary<string, string>? env = null, string? workingDirectory = null)
    {
        var r = TryRun(file, args, stdin, timeout, env, workingDirectory);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {r.ExitCode}: {r.StdErr.Trim()} {r.StdOut.Trim()}");
        }

        return r.StdOut;
    }

    /// <summary>
    /// Runs <paramref name="file"/> (in <paramref name="workingDirectory"/> when given, with <paramref name="env"/>
    /// added to its environment) and returns what it ended with; past <paramref name="timeout"/> (30 s unless
    /// given) it is killed and a <see cref="TimeoutException"/> thrown.
    /// </summary>
    public static Result TryRun(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null, IDictionary<string, string>? env = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (env is not null)
        {
            foreach (var (k, v) in env)
            {
                psi.Environment[k] = v;
            }
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
        }

        p.StandardInput.Close();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(30)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in time");
        }

        p.WaitForExit();
        return new Result(p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }
}
