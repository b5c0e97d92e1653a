using System.Diagnostics;

namespace Kldload.MeshCA.Links;

/// <summary>A system tool (<c>ip</c>, <c>wg</c>) failed; the message carries its stderr.</summary>
public sealed class WireGuardLinkException(string message) : Exception(message);

/// <summary>Runs <c>ip</c> and <c>wg</c> with a bounded wait, optionally inside a network namespace.</summary>
public static class SystemCommand
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>Runs <paramref name="file"/> (inside <paramref name="netns"/> when given), feeding <paramref name="stdin"/>; its exit code and output.</summary>
    public static (int ExitCode, string StdOut, string StdErr) TryRun(string? netns, string file, IReadOnlyList<string> args, string? stdin = null)
    {
        var psi = new ProcessStartInfo(netns is null ? file : "ip")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (netns is not null)
        {
            foreach (var a in new[] { "netns", "exec", netns, file })
            {
                psi.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new WireGuardLinkException($"cannot start {file}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new WireGuardLinkException($"cannot run {file}: {e.Message} (install iproute2 and wireguard-tools)");
        }

        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (stdin is not null)
            {
                p.StandardInput.Write(stdin);
            }

            p.StandardInput.Close();
            if (!p.WaitForExit(Timeout))
            {
                p.Kill(entireProcessTree: true);
                throw new WireGuardLinkException($"{file} {string.Join(' ', args)} did not finish within {Timeout.TotalSeconds} s");
            }

            p.WaitForExit();
            return (p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
        }
    }

    /// <summary>As <see cref="TryRun"/>, and throws <see cref="WireGuardLinkException"/> with its stderr when it fails.</summary>
    public static string Run(string? netns, string file, IReadOnlyList<string> args, string? stdin = null)
    {
        var (code, stdout, stderr) = TryRun(netns, file, args, stdin);
        if (code != 0)
        {
            // Never echo stdin: it may hold a private key.
            throw new WireGuardLinkException($"{file} {string.Join(' ', args)} failed ({code}): {stderr.Trim()}");
        }

        return stdout;
    }
}
