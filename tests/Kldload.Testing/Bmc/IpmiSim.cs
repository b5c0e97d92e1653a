using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Kldload.Bmc.Ipmi.Protocol;
using Kldload.Testing.Network;

namespace Kldload.Testing.Bmc;

/// <summary>
/// OpenIPMI's ipmi_sim as a BMC on 127.0.0.1 and an ephemeral port, with a chassis_control script
/// whose state (power, boot device) lives in files the test can read. Stopped by its PID.
/// ipmi_sim has no cipher suite 17 and needs chassis_control for power and boot parameters.
/// Part of the test kit: the Bmc and Provisioner tests both use this one.
/// </summary>
public sealed class IpmiSim : IAsyncDisposable
{
    public const string User = "admin";
    public const string Password = "s3cret";

    /// <summary>The GUID ipmi_sim is configured with, as Get System GUID returns its bytes.</summary>
    public const string GuidBytes = "a123456789abcdefa123456789abcdef";

    private readonly Process _process;

    private IpmiSim(Process process, string directory, int port)
    {
        _process = process;
        Directory = directory;
        Port = port;
    }

    public string Directory { get; }

    public int Port { get; }

    public int Pid => _process.Id;

    /// <summary>"1" or "0" as the chassis script last stored it.</summary>
    public string PowerFile => ReadState("power", "0");

    public string BootFile => ReadState("boot", "default");

    /// <summary>Every "set" the chassis script received, in order ("power 1", "boot pxe").</summary>
    public IReadOnlyList<string> ControlLog =>
        File.Exists(Path.Combine(Directory, "log")) ? File.ReadAllLines(Path.Combine(Directory, "log")) : [];

    public static async Task<IpmiSim> StartAsync(bool poweredOn = false, string? guid = null)
    {
        for (var attempt = 0; ; attempt++)
        {
            var directory = System.IO.Directory.CreateTempSubdirectory("kl-ipmisim-").FullName;
            var port = FreePort.Udp();
            await File.WriteAllTextAsync(Path.Combine(directory, "power"), poweredOn ? "1\n" : "0\n");
            var script = Path.Combine(directory, "chassis.sh");
            // ipmi_sim runs: chassis.sh [mc] get power boot ... | chassis.sh [mc] set power 1 boot pxe ...
            await File.WriteAllTextAsync(script, $$"""
                #!/bin/sh
                d='{{directory}}'
                case "$1" in 0x*) shift;; esac
                op=$1; shift
                case "$op" in
                  get) for p in "$@"; do case "$p" in
                         power) echo "power:$(cat "$d/power" 2>/dev/null || echo 0)";;
                         boot) echo "boot:$(cat "$d/boot" 2>/dev/null || echo default)";;
                       esac; done;;
                  set) while [ $# -ge 2 ]; do echo "$2" > "$d/$1"; echo "$1 $2" >> "$d/log"; shift 2; done;;
                esac
                """);
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            await File.WriteAllTextAsync(Path.Combine(directory, "lan.conf"), $"""
                name "kl{Path.GetFileName(directory)}"
                set_working_mc 0x20
                  startlan 1
                    addr 127.0.0.1 {port}
                    priv_limit admin
                    allowed_auths_callback none md2 md5 straight
                    allowed_auths_user none md2 md5 straight
                    allowed_auths_operator none md2 md5 straight
                    allowed_auths_admin none md2 md5 straight
                    guid {guid ?? GuidBytes}
                  endlan
                  chassis_control "{script}"
                user 2 true "{User}" "{Password}" admin 10 none md2 md5 straight
                user 3 true "viewer" "look" user 10 none md2 md5 straight
                """);
            await File.WriteAllTextAsync(Path.Combine(directory, "sim.emu"), """
                mc_setbmc 0x20
                mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
                mc_enable 0x20
                """);
            System.IO.Directory.CreateDirectory(Path.Combine(directory, "state"));
            var psi = new ProcessStartInfo("ipmi_sim", ["-c", Path.Combine(directory, "lan.conf"), "-f", Path.Combine(directory, "sim.emu"), "-s", Path.Combine(directory, "state"), "-n"])
            {
                WorkingDirectory = directory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            var process = Process.Start(psi)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var sim = new IpmiSim(process, directory, port);
            if (await sim.AnswersAsync(TimeSpan.FromSeconds(10)))
            {
                return sim;
            }

            await sim.DisposeAsync();
            if (attempt == 4)
            {
                throw new InvalidOperationException("ipmi_sim did not start answering on 127.0.0.1 after 5 tries");
            }
        }
    }

    /// <summary>Runs ipmitool -I lanplus against this simulator and returns its exit code and output.</summary>
    public Task<(int ExitCode, string Output)> IpmitoolAsync(params string[] args) =>
        IpmitoolWithPasswordAsync(Password, args);

    public async Task<(int ExitCode, string Output)> IpmitoolWithPasswordAsync(string password, params string[] args)
    {
        var r = await Task.Run(() => Processes.ExternalTool.TryRun("ipmitool",
            ["-I", "lanplus", "-H", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", User, "-P", password, "-C", "3", .. args],
            timeout: TimeSpan.FromSeconds(60)));
        return (r.ExitCode, r.StdOut + r.StdErr);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }

        _process.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a late write from the chassis script; the temp directory is reaped later
        }
    }

    private string ReadState(string name, string fallback)
    {
        var path = Path.Combine(Directory, name);
        return File.Exists(path) ? File.ReadAllText(path).Trim() : fallback;
    }

    private async Task<bool> AnswersAsync(TimeSpan timeout)
    {
        var request = new IpmiRequest(IpmiNetFn.App, IpmiCommand.GetChannelAuthenticationCapabilities, 0, new byte[] { 0x8E, 0x04 });
        var datagram = new byte[64];
        Ipmi15Frame.TryWrite(request, datagram, out var length);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(IPAddress.Loopback, Port);
        var deadline = DateTime.UtcNow + timeout;
        var buffer = new byte[512];
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            try
            {
                await socket.SendAsync(datagram.AsMemory(0, length));
                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
                var n = await socket.ReceiveAsync(buffer, cts.Token);
                if (Ipmi15Frame.TryRead(buffer.AsSpan(0, n), out _, out _))
                {
                    return true;
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                await Task.Delay(100);
            }
        }

        return false;
    }
}
