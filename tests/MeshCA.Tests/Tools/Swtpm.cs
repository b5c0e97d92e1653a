using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Kldload.MeshCA.Tests.Tools;

/// <summary>
/// A real software TPM (swtpm) on two ephemeral loopback ports, its state in a temporary directory;
/// stopped by PID and deleted on dispose.
/// </summary>
internal sealed class Swtpm : IDisposable
{
    private readonly Process _process;

    private Swtpm(Process process, string stateDir, int port)
    {
        _process = process;
        StateDir = stateDir;
        Port = port;
    }

    public string StateDir { get; }

    public int Port { get; }

    /// <summary>The tpm2-tools TCTI string for this TPM.</summary>
    public string Tcti => $"swtpm:host=127.0.0.1,port={Port}";

    public static Swtpm Start()
    {
        Exception? last = null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var dir = Directory.CreateTempSubdirectory("klmesh-swtpm-").FullName;
            var port = FreeTcpPortPair();
            var psi = new ProcessStartInfo("swtpm") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[]
            {
                "socket", "--tpm2", "--tpmstate", $"dir={dir}",
                "--server", $"type=tcp,port={port},bindaddr=127.0.0.1",
                "--ctrl", $"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                "--flags", "not-need-init,startup-clear",
            })
            {
                psi.ArgumentList.Add(a);
            }

            var p = Process.Start(psi)!;
            if (WaitForPort(port, p, TimeSpan.FromSeconds(10)))
            {
                return new Swtpm(p, dir, port);
            }

            last = new InvalidOperationException($"swtpm did not listen on {port}: {(p.HasExited ? p.StandardError.ReadToEnd() : "timeout")}");
            if (!p.HasExited)
            {
                p.Kill();
                p.WaitForExit(5000);
            }

            p.Dispose();
            Directory.Delete(dir, true);
        }

        throw last!;
    }

    /// <summary>Runs a tpm2-tools command against this TPM.</summary>
    public string Tool(string tool, params string[] args) =>
        ExternalTool.Run(tool, [.. args, "-T", Tcti], timeout: TimeSpan.FromSeconds(30));

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(StateDir, true);
            }
            catch (IOException)
            {
                // a leftover temp directory is harmless
            }
        }
    }

    private static int FreeTcpPortPair()
    {
        for (var i = 0; i < 50; i++)
        {
            using var a = new TcpListener(IPAddress.Loopback, 0);
            a.Start();
            var port = ((IPEndPoint)a.LocalEndpoint).Port;
            if (port >= 65535)
            {
                continue;
            }

            try
            {
                using var b = new TcpListener(IPAddress.Loopback, port + 1);
                b.Start();
                return port;
            }
            catch (SocketException)
            {
                // neighbour taken: try another pair
            }
        }

        throw new InvalidOperationException("no free loopback port pair");
    }

    private static bool WaitForPort(int port, Process p, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout && !p.HasExited)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }

        return false;
    }
}
