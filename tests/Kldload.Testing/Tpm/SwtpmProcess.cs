using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Kldload.Tpm.Device;
using Kldload.Tpm.Transport;

namespace Kldload.Testing.Tpm;

/// <summary>
/// A real swtpm (Debian's swtpm 0.7) on loopback ports chosen at random, with its state in a temp
/// directory (a copy of the captured state in Tpm/state, or a fresh <c>swtpm_setup</c>). Stopped by PID on dispose.
/// </summary>
public sealed class SwtpmProcess : IDisposable
{
    private Process? _process;
    private readonly bool _needInit;

    private SwtpmProcess(string stateDir, bool needInit)
    {
        StateDir = stateDir;
        _needInit = needInit;
        (DataPort, ControlPort) = FreePortPair();
    }

    public string StateDir { get; }

    public int DataPort { get; private set; }

    public int ControlPort { get; private set; }

    public string Tcti => $"swtpm:host=127.0.0.1,port={DataPort}";

    /// <summary>Starts swtpm on a copy of the captured state (Tpm/state: EKs persisted, EK certificates in NV).</summary>
    public static SwtpmProcess StartFromCapturedState(bool needInit = false)
    {
        var dir = Directory.CreateTempSubdirectory("kltpm-").FullName;
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Tpm", "state", "tpm2-00.permall"), Path.Combine(dir, "tpm2-00.permall"));
        var p = new SwtpmProcess(dir, needInit);
        p.Start();
        return p;
    }

    /// <summary>Starts swtpm on an empty state directory (a manufactured-but-empty TPM).</summary>
    public static SwtpmProcess StartEmpty()
    {
        var dir = Directory.CreateTempSubdirectory("kltpm-").FullName;
        var p = new SwtpmProcess(dir, false);
        p.Start();
        return p;
    }

    /// <summary>Starts swtpm on a state prepared by the caller (e.g. swtpm_setup output).</summary>
    public static SwtpmProcess StartOn(string stateDir)
    {
        var p = new SwtpmProcess(stateDir, false);
        p.Start();
        return p;
    }

    public void Start()
    {
        // A free port can be taken by a parallel test before swtpm binds it: retry on fresh ports.
        var failure = "not started";
        for (var attempt = 0; attempt < 6; attempt++)
        {
            if (attempt > 0)
            {
                (DataPort, ControlPort) = FreePortPair();
            }

            if (TryStart(out failure))
            {
                return;
            }
        }

        throw new InvalidOperationException($"swtpm did not start after 6 attempts: {failure}");
    }

    private bool TryStart(out string failure)
    {
        var flags = _needInit ? string.Empty : " --flags not-need-init,startup-clear";
        var psi = new ProcessStartInfo("swtpm",
            $"socket --tpm2 --tpmstate dir={StateDir} --server type=tcp,port={DataPort},bindaddr=127.0.0.1 " +
            $"--ctrl type=tcp,port={ControlPort},bindaddr=127.0.0.1{flags}")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var process = Process.Start(psi) ?? throw new InvalidOperationException("swtpm did not start");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            if (PortOpen(DataPort) && PortOpen(ControlPort))
            {
                _process = process;
                failure = string.Empty;
                return true;
            }

            Thread.Sleep(50);
        }

        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit(5000);
        }

        failure = process.StandardError.ReadToEnd() is { Length: > 0 } err ? err.Trim() : "ports not open in 30 s";
        process.Dispose();
        return false;
    }

    /// <summary>Runs a tpm2-tools command against this TPM and returns its output; throws unless it exits 0.</summary>
    public string Tool(string tool, params string[] args) =>
        Processes.ExternalTool.Run(tool, [.. args, "-T", Tcti], timeout: TimeSpan.FromSeconds(30));

    /// <summary>A command client; one TCP connection per command so tpm2-tools can run in between.</summary>
    public Tpm2 Connect() => new(new SwtpmTcpTransport("127.0.0.1", DataPort) { ConnectionPerCommand = true });

    public SwtpmControl Control() => new("127.0.0.1", ControlPort);

    /// <summary>CMD_SHUTDOWN (state saved), waits for the process to exit.</summary>
    public void Stop()
    {
        if (_process is null)
        {
            return;
        }

        try
        {
            Control().Shutdown();
        }
        catch (Kldload.Tpm.Errors.TpmTransportException)
        {
            // fall through to the kill below
        }

        if (!_process.WaitForExit(5000))
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }

        _process.Dispose();
        _process = null;
    }

    /// <summary>Stops and starts swtpm on the same state and ports.</summary>
    public void Restart()
    {
        Stop();
        Start();
    }

    /// <summary>Runs a tpm2-tools command against this swtpm; throws with stderr on a non-zero exit.</summary>
    public string RunTool(string tool, string workDir, params string[] args)
    {
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
            WorkingDirectory = workDir,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["TPM2TOOLS_TCTI"] = Tcti;
        psi.Environment["TMPDIR"] = workDir;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{tool} did not start");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000))
        {
            p.Kill();
            throw new TimeoutException($"{tool} timed out");
        }

        return p.ExitCode != 0
            ? throw new InvalidOperationException($"{tool} {string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}")
            : stdout.Result;
    }

    public void Dispose()
    {
        if (_process is not null)
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }

            _process.Dispose();
            _process = null;
        }

        try
        {
            Directory.Delete(StateDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static bool PortOpen(int port)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static (int, int) FreePortPair()
    {
        for (var i = 0; i < 100; i++)
        {
            var port = Random.Shared.Next(20000, 60000);
            if (CanBind(port) && CanBind(port + 1))
            {
                return (port, port + 1);
            }
        }

        throw new InvalidOperationException("no free port pair");
    }

    private static bool CanBind(int port)
    {
        try
        {
            var l = new TcpListener(IPAddress.Loopback, port);
            l.Start();
            l.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
