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
            // The output is read by two threads of our own with blocking reads, not by async reads:
            // callers run this under locks, on request threads. An async read needs a thread-pool
            // thread to finish, and when the pool's threads are the ones waiting for that lock (the
            // control channel's watchers, all woken by the roster change this command follows),
            // the call waits for the pool to inject threads: seconds at 16 nodes.
            var stdout = new PipeReader(p.StandardOutput, file);
            var stderr = new PipeReader(p.StandardError, file);
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
            return (p.ExitCode, stdout.Text(file, args), stderr.Text(file, args));
        }
    }

    /// <summary>Reads a child's output stream to its end on a dedicated thread.</summary>
    private sealed class PipeReader
    {
        private readonly Thread _thread;
        private string _text = string.Empty;
        private Exception? _error;

        public PipeReader(StreamReader reader, string file)
        {
            _thread = new Thread(() =>
            {
                try
                {
                    _text = reader.ReadToEnd();
                }
                catch (IOException e)
                {
                    _error = e;
                }
            })
            {
                IsBackground = true,
                Name = $"{file} output",
            };
            _thread.Start();
        }

        /// <summary>The whole output, once the stream ended (bounded: a child that exited closes it unless it passed it on).</summary>
        public string Text(string file, IReadOnlyList<string> args)
        {
            if (!_thread.Join(Timeout))
            {
                throw new WireGuardLinkException($"{file} {string.Join(' ', args)} exited but its output stayed open for {Timeout.TotalSeconds} s (a process it started holds it)");
            }

            return _error is null ? _text : throw new WireGuardLinkException($"reading the output of {file} failed: {_error.Message}");
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
