using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Kldload.E2E.Tests;

/// <summary>
/// A private network segment for end-to-end boots: a network namespace with a bridge (the
/// provisioner's side, 10.77.0.1/24) and one tap per VM; <c>kldload serve</c> runs inside it in full
/// DHCP mode with the mesh hub, the live image imported. Everything is torn down on dispose, every
/// process stopped by its own PID.
/// </summary>
internal sealed class BootLab : IAsyncDisposable
{
    public const string ServerAddress = "10.77.0.1";
    public const int HttpPort = 8080;
    private const string OvmfDirectory = "/usr/share/OVMF";
    private readonly List<Process> _processes = [];
    private readonly List<string> _dirs = [];
    private readonly string _suffix = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 2));
    private int _taps;

    private BootLab()
    {
        Namespace = "kle2e" + _suffix;
        Bridge = "klbr" + _suffix;
        DataDir = TempDir("kle2e-data-");
        // The logs stay after the run (serial consoles, kldload, swtpm): they are what a failure is read from.
        LogDir = Directory.CreateTempSubdirectory("kle2e-logs-").FullName;
    }

    public string Namespace { get; }

    public string Bridge { get; }

    public string DataDir { get; }

    public string LogDir { get; }

    public string ServerUrl => $"http://{ServerAddress}:{HttpPort}";

    public string ServerLog => Path.Combine(LogDir, "kldload.log");

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kldload.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Kldload.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Creates the namespace and bridge, imports the live image (built when missing) and starts kldload.</summary>
    public static async Task<BootLab> StartAsync(string policy = "Lab", IEnumerable<string>? extraSettings = null)
    {
        var lab = new BootLab();
        try
        {
            await lab.SetUpAsync(policy, extraSettings ?? []);
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    private async Task SetUpAsync(string policy, IEnumerable<string> extraSettings)
    {
        var image = await EnsureImageAsync();
        await Command.MustRunAsync("ip", "netns", "add", Namespace);
        await Ns("ip", "link", "set", "lo", "up");
        await Ns("ip", "link", "add", Bridge, "type", "bridge");
        await Ns("ip", "addr", "add", ServerAddress + "/24", "dev", Bridge);
        await Ns("ip", "link", "set", Bridge, "up");

        var kldload = Path.Combine(AppContext.BaseDirectory, "kldload.dll");
        var import = await Command.RunAsync("dotnet", [kldload, "image", "import", image, "--name", "kldload-live", "--version", "1", "--channel", "stable", $"--Kldload:DataDir={DataDir}"], TimeSpan.FromMinutes(2));
        Assert.True(import.ExitCode == 0, "image import failed: " + import.Output);

        _processes.Add(Command.Start("ip",
        [
            "netns", "exec", Namespace, "dotnet", kldload, "serve",
            "--urls", $"http://[::]:{HttpPort}",
            $"--Kldload:ServerUrl={ServerUrl}",
            $"--Kldload:DataDir={DataDir}",
            "--Dhcp:Mode=Full", $"--Dhcp:Interface={Bridge}",
            "--Dhcp:Subnets:0:Network=10.77.0.0/24", "--Dhcp:Subnets:0:PoolStart=10.77.0.100", "--Dhcp:Subnets:0:PoolEnd=10.77.0.199",
            $"--Dhcp:Subnets:0:Router={ServerAddress}",
            $"--Tftp:Endpoint={ServerAddress}:69",
            "--Mesh:Enabled=true", $"--Mesh:Interface=klm{_suffix}",
            $"--Attestation:EnrollmentPolicy={policy}",
            "--Boot:DefaultChannel=stable",
            .. extraSettings,
        ], ServerLog));

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var r = await Command.RunAsync("ip", ["netns", "exec", Namespace, "curl", "-sf", $"{ServerUrl}/readyz"], TimeSpan.FromSeconds(10));
            if (r.ExitCode == 0)
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline && !_processes[0].HasExited, "kldload did not become ready:\n" + Tail(ServerLog));
            await Task.Delay(1000);
        }
    }

    /// <summary>
    /// Starts a VM with a swtpm vTPM, on its own tap on the bridge. <see cref="Firmware.SeaBios"/> boots
    /// with QEMU's iPXE option ROM; <see cref="Firmware.Ovmf"/> has the NIC's option ROM disabled
    /// (<c>romfile=</c>) so OVMF's own UEFI PXE client fetches the loader over TFTP.
    /// </summary>
    public async Task<Vm> StartVmAsync(string mac, string? tpmState = null, Firmware firmware = Firmware.SeaBios)
    {
        var index = _taps++;
        var tap = $"kltap{_suffix}{index}";
        await Ns("ip", "tuntap", "add", "dev", tap, "mode", "tap");
        await Ns("ip", "link", "set", tap, "master", Bridge);
        await Ns("ip", "link", "set", tap, "up");

        var state = tpmState ?? TempDir("kle2e-tpm-");
        var sock = Path.Combine(state, "sock");
        File.Delete(sock);
        var swtpm = Command.Start("swtpm", ["socket", "--tpm2", "--tpmstate", $"dir={state}", "--ctrl", $"type=unixio,path={sock}"], Path.Combine(LogDir, $"swtpm{index}.log"));
        _processes.Add(swtpm);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!File.Exists(sock))
        {
            Assert.True(DateTime.UtcNow < deadline && !swtpm.HasExited, "swtpm did not start");
            await Task.Delay(100);
        }

        var serial = Path.Combine(LogDir, $"vm{index}-{DateTime.UtcNow:HHmmss}.serial.log");
        List<string> args =
        [
            "netns", "exec", Namespace, "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "1024",
            "-display", "none", "-monitor", "none", "-serial", $"file:{serial}",
            "-chardev", $"socket,id=chrtpm,path={sock}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
            "-netdev", $"tap,id=n0,ifname={tap},script=no,downscript=no",
        ];
        if (firmware == Firmware.Ovmf)
        {
            // Each VM gets its own copy of the variable store: OVMF writes its boot entries there.
            var vars = Path.Combine(state, "OVMF_VARS.fd");
            if (!File.Exists(vars))
            {
                File.Copy(Path.Combine(OvmfDirectory, "OVMF_VARS_4M.fd"), vars);
            }

            args.AddRange(
            [
                "-machine", "q35",
                "-drive", $"if=pflash,format=raw,unit=0,readonly=on,file={Path.Combine(OvmfDirectory, "OVMF_CODE_4M.fd")}",
                "-drive", $"if=pflash,format=raw,unit=1,file={vars}",
                "-device", "tpm-crb,tpmdev=tpm0",
                "-device", $"virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1",
            ]);
        }
        else
        {
            args.AddRange(["-device", "tpm-tis,tpmdev=tpm0", "-device", $"virtio-net-pci,netdev=n0,mac={mac}", "-boot", "n"]);
        }

        var qemu = Command.Start("ip", args, Path.Combine(LogDir, $"qemu{index}.log"));
        _processes.Add(qemu);
        return new Vm(qemu, swtpm, state, serial, tap);
    }

    /// <summary>Stops a VM and its swtpm (the TPM state directory stays for a reboot) and removes its tap.</summary>
    public async Task StopVmAsync(Vm vm)
    {
        Command.Stop(vm.Qemu);
        Command.Stop(vm.Swtpm);
        _processes.Remove(vm.Qemu);
        _processes.Remove(vm.Swtpm);
        await Command.RunAsync("ip", ["netns", "exec", Namespace, "ip", "link", "del", vm.Tap]);
    }

    /// <summary>The node with <paramref name="mac"/> from <c>GET /api/v1/nodes</c>, or null.</summary>
    public async Task<JsonElement?> NodeAsync(string mac)
    {
        var token = File.ReadAllText(Path.Combine(DataDir, "admin.token")).Trim();
        var r = await Command.RunAsync("ip", ["netns", "exec", Namespace, "curl", "-sf", "-H", $"Authorization: Bearer {token}", $"{ServerUrl}/api/v1/nodes"], TimeSpan.FromSeconds(15));
        if (r.ExitCode != 0)
        {
            return null;
        }

        using var doc = JsonDocument.Parse(r.Output);
        foreach (var n in doc.RootElement.EnumerateArray())
        {
            if (n.GetProperty("macs").EnumerateArray().Any(m => string.Equals(m.GetString(), mac, StringComparison.OrdinalIgnoreCase)))
            {
                return n.Clone();
            }
        }

        return null;
    }

    /// <summary>Polls until the node is Ready; fails with the serial console and server log after <paramref name="limit"/>.</summary>
    public async Task<JsonElement> WaitReadyAsync(Vm vm, string mac, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            if (await NodeAsync(mac) is { } node && node.GetProperty("state").ToString() == "Ready")
            {
                return node;
            }

            var console = File.Exists(vm.SerialLog) ? Tail(vm.SerialLog) : "";
            // The agent's refusal line, or OVMF falling through every network boot option to its shell.
            var refused = console.Contains("refused with HTTP", StringComparison.Ordinal) || console.Contains("UEFI Interactive Shell", StringComparison.Ordinal);
            if (DateTime.UtcNow > deadline || vm.Qemu.HasExited || refused)
            {
                Assert.Fail($"node {mac} not Ready after {limit.TotalSeconds} s (qemu exited: {vm.Qemu.HasExited})\n--- serial ---\n{Tail(vm.SerialLog)}\n--- kldload ---\n{Tail(ServerLog)}");
            }

            await Task.Delay(3000);
        }
    }

    public Task<Command.Result> PingAsync(string address) =>
        Command.RunAsync("ip", ["netns", "exec", Namespace, "busybox", "ping", "-c", "3", "-W", "3", address], TimeSpan.FromSeconds(30));

    public static string Tail(string path)
    {
        if (!File.Exists(path))
        {
            return "(no " + path + ")";
        }

        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(s);
        var text = reader.ReadToEnd();
        return text.Length > 6000 ? text[^6000..] : text;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in Enumerable.Reverse(_processes))
        {
            Command.Stop(p);
        }

        _processes.Clear();
        await Command.RunAsync("ip", ["netns", "del", Namespace]);
        foreach (var d in _dirs)
        {
            try
            {
                Directory.Delete(d, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a temp directory left behind is harmless.
            }
        }
    }

    private Task<string> Ns(params string[] args) => Command.MustRunAsync("ip", ["netns", "exec", Namespace, .. args]);

    private string TempDir(string prefix)
    {
        var d = Directory.CreateTempSubdirectory(prefix).FullName;
        _dirs.Add(d);
        return d;
    }

    /// <summary>out/image, built with images/build.sh when it is missing.</summary>
    private static async Task<string> EnsureImageAsync()
    {
        var root = RepositoryRoot;
        var image = Path.Combine(root, "out", "image");
        if (!File.Exists(Path.Combine(image, "manifest.json")))
        {
            var build = await Command.RunAsync(Path.Combine(root, "images", "build.sh"), [], TimeSpan.FromMinutes(8));
            Assert.True(build.ExitCode == 0, "images/build.sh failed: " + build.Output);
        }

        return image;
    }

    public static string FormatSeconds(double s) => s.ToString("0.0", CultureInfo.InvariantCulture);
}

/// <summary>The VM's firmware.</summary>
internal enum Firmware
{
    /// <summary>SeaBIOS with QEMU's iPXE option ROM on the NIC (legacy BIOS; the kernel is not measured).</summary>
    SeaBios,

    /// <summary>OVMF (UEFI) with the NIC's option ROM off: its own PXE client loads ipxe.efi over TFTP.</summary>
    Ovmf,
}

/// <summary>One running VM.</summary>
internal sealed record Vm(Process Qemu, Process Swtpm, string TpmState, string SerialLog, string Tap);
