using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Kldload.Testing.Bmc;

/// <summary>
/// The machine behind <see cref="RedfishService"/> when a test wants a real one: a QEMU VM (TCG,
/// SeaBIOS, one virtio NIC on a restricted user-mode network that reaches nothing, no disk) driven
/// through QMP. Power on starts the process, power off is QMP <c>quit</c>, a restart is QMP
/// <c>system_reset</c>, a power cycle is a new process. A pending one-time network boot is honoured on
/// the next start (<c>-boot once=n</c>) and then consumed, as a BMC does. What firmware booted from is
/// read from SeaBIOS's debug port, one log per start.
/// </summary>
public sealed class QemuMachine : IDisposable
{
    private readonly string _directory;
    private readonly Lock _lock = new();
    private readonly List<string> _events = [];
    private Process? _process;
    private int _starts;

    public QemuMachine(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
    }

    private string QmpSocket => Path.Combine(_directory, "qmp.sock");

    /// <summary>QEMU processes started so far.</summary>
    public int Starts => _starts;

    public int? Pid => _process is { HasExited: false } p ? p.Id : null;

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The arguments of each start, in order.</summary>
    public List<IReadOnlyList<string>> Launches { get; } = [];

    /// <summary>QMP events seen (RESET, SHUTDOWN, POWERDOWN, ...), in order.</summary>
    public IReadOnlyList<string> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Starts QEMU (network first once when <paramref name="networkOnce"/>); a running one is left alone.</summary>
    public void Start(bool networkOnce)
    {
        if (IsRunning)
        {
            return;
        }

        _starts++;
        File.Delete(QmpSocket);
        string[] args =
        [
            "-accel", "tcg", "-cpu", "max", "-m", "64", "-nodefaults", "-display", "none", "-serial", "none",
            "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0",
            "-chardev", $"file,id=dbg,path={DebugLog(_starts)}", "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
            "-qmp", $"unix:{QmpSocket},server=on,wait=off",
            .. networkOnce ? new[] { "-boot", "once=n" } : [],
        ];
        var psi = new ProcessStartInfo("qemu-system-x86_64") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        _process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start qemu-system-x86_64");
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        Launches.Add(args);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.Exists(QmpSocket))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"QEMU did not open its QMP socket (exited: {_process.HasExited})");
            }

            Thread.Sleep(20);
        }

        Execute("query-status");
    }

    /// <summary>QMP <c>quit</c>, then waits for the process to end (killed by its PID after 10 s).</summary>
    public void PowerOff()
    {
        if (_process is not { HasExited: false } p)
        {
            return;
        }

        try
        {
            Execute("quit");
        }
        catch (IOException)
        {
            // The socket closed as QEMU quit.
        }
        catch (SocketException)
        {
            // Same.
        }

        if (!p.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            p.Kill();
            p.WaitForExit();
        }
    }

    /// <summary>QMP <c>system_reset</c>: the same process restarts its firmware.</summary>
    public void Reset() => Execute("system_reset", awaitEvent: "RESET");

    /// <summary>QMP <c>system_powerdown</c>: an ACPI power button press (with no OS, nothing happens).</summary>
    public void PressPowerButton() => Execute("system_powerdown");

    /// <summary>QMP <c>query-status</c>'s status (running, paused, ...), or null when no QEMU runs.</summary>
    public string? Status() => IsRunning ? Execute("query-status")?["status"]?.GetValue<string>() : null;

    /// <summary>What SeaBIOS booted from first after start number <paramref name="start"/> ("ROM" is the NIC's PXE ROM), once it has tried.</summary>
    public string? FirstBootDevice(int start)
    {
        var path = DebugLog(start);
        if (!File.Exists(path))
        {
            return null;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream, Encoding.Latin1);
        while (reader.ReadLine() is { } line)
        {
            if (line.StartsWith("Booting from ", StringComparison.Ordinal))
            {
                return line["Booting from ".Length..].TrimEnd('.');
            }
        }

        return null;
    }

    /// <summary>Waits (bounded) until SeaBIOS has said what start number <paramref name="start"/> booted from.</summary>
    public string WaitForFirstBootDevice(int start, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        string? device;
        while ((device = FirstBootDevice(start)) is null)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"SeaBIOS did not boot within {limit.TotalSeconds} s of start {start}");
            }

            Thread.Sleep(100);
        }

        return device;
    }

    public void Dispose()
    {
        if (_process is { } p)
        {
            if (!p.HasExited)
            {
                p.Kill();
                p.WaitForExit();
            }

            p.Dispose();
        }
    }

    private string DebugLog(int start) => Path.Combine(_directory, $"seabios-{start}.log");

    /// <summary>One QMP command on a fresh connection (QMP serves one client at a time); events read on the way are kept.</summary>
    private JsonNode? Execute(string command, string? awaitEvent = null)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(QmpSocket));
        socket.ReceiveTimeout = 10_000;
        using var stream = new NetworkStream(socket);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        Read(reader); // the greeting
        writer.WriteLine("{\"execute\":\"qmp_capabilities\"}");
        Reply(reader, "qmp_capabilities");
        writer.WriteLine($"{{\"execute\":\"{command}\"}}");
        var result = Reply(reader, command);
        while (awaitEvent is not null && !Events.Contains(awaitEvent))
        {
            // The event follows the command's return (the main loop acts on the request).
            Reply(reader, command);
        }

        return result;
    }

    private JsonNode? Reply(StreamReader reader, string command)
    {
        while (true)
        {
            var message = Read(reader);
            if (message["event"]?.GetValue<string>() is { } name)
            {
                lock (_lock)
                {
                    _events.Add(name);
                }

                continue;
            }

            if (message["error"] is { } error)
            {
                throw new InvalidOperationException($"QMP {command}: {error["desc"]}");
            }

            return message["return"];
        }
    }

    private static JsonNode Read(StreamReader reader) =>
        JsonNode.Parse(reader.ReadLine() ?? throw new IOException("QMP closed the connection")) ?? throw new IOException("QMP sent null");
}
