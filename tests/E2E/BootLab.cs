using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Kldload.Testing;

namespace Kldload.E2E.Tests;

/// <summary>
/// A private network segment for end-to-end boots: a network namespace with a bridge (the
/// provisioner's side, 10.77.0.1/24, or with <see cref="LabOptions.Ipv6Only"/> fd00:77::1/64 and no
/// IPv4 at all) and one tap per VM; <c>kldload serve</c> runs inside it in full DHCP (or DHCPv6) mode
/// with the mesh hub, the live image imported. Everything is torn down on dispose, every
/// process stopped by its own PID.
/// </summary>
internal sealed class BootLab : IAsyncDisposable
{
    public const string ServerAddress = "10.77.0.1";
    public const string ServerAddress6 = "fd00:77::1";
    public const int HttpPort = 8080;
    private const string OvmfDirectory = "/usr/share/OVMF";
    private readonly List<Process> _processes = [];
    private readonly List<string> _dirs = [];
    private readonly string _suffix = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 2));
    private int _taps;
    private Process? _kldload;
    private LabOptions _options;
    private List<string> _dhcp = [];
    private string? _dnsmasqNamespace;
    private readonly List<string> _bmcDirs = [];

    private BootLab()
    {
        Namespace = "kle2e" + _suffix;
        Bridge = "klbr" + _suffix;
        DataDir = TempDir("kle2e-data-");
        _options = new LabOptions();
        // The logs stay after the run (serial consoles, kldload, swtpm): they are what a failure is read from.
        LogDir = Directory.CreateTempSubdirectory("kle2e-logs-").FullName;
    }

    public string Namespace { get; }

    public string Bridge { get; }

    public string DataDir { get; private set; }

    /// <summary>With <see cref="LabOptions.ManufacturedTpm"/>: the TPM state directory to boot the VM with.</summary>
    public string? ManufacturedTpmState { get; private set; }

    public string LogDir { get; }

    public string ServerUrl => _options.Ipv6Only ? $"http://[{ServerAddress6}]:{HttpPort}" : $"http://{ServerAddress}:{HttpPort}";

    public string ServerLog => Path.Combine(LogDir, "kldload.log");

    /// <summary>dnsmasq's lease file in proxy mode.</summary>
    public string? DnsmasqLeases { get; private set; }

    private static readonly SemaphoreSlim s_imageBuild = new(1, 1);

    public static string RepositoryRoot => RepositoryPaths.Root;

    /// <summary>Creates the namespace and bridge, imports the live image (built when missing) and starts kldload.</summary>
    public static async Task<BootLab> StartAsync(LabOptions? options = null)
    {
        var lab = new BootLab();
        try
        {
            await lab.SetUpAsync(options ?? new LabOptions());
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    private async Task SetUpAsync(LabOptions options)
    {
        _options = options;
        var image = await EnsureImageAsync();
        await Command.MustRunAsync("ip", "netns", "add", Namespace);
        await Ns("ip", "link", "set", "lo", "up");
        await Ns("ip", "link", "add", Bridge, "type", "bridge");
        if (options.Ipv6Only)
        {
            // No DAD: the bridge has no carrier until a tap joins, and a tentative address cannot be bound.
            await Ns("ip", "addr", "add", ServerAddress6 + "/64", "dev", Bridge, "nodad");
        }
        else
        {
            await Ns("ip", "addr", "add", ServerAddress + "/24", "dev", Bridge);
        }

        await Ns("ip", "link", "set", Bridge, "up");

        await ImportAsync(image, "1");
        if (options.TwoImages)
        {
            // Version 2 is version 1 with another marker: the channel now points at 2, rollback target 1.
            await ImportAsync(await MarkedImageAsync(image, "kldload-live 2"), "2");
        }

        if (options.Ipv6Only)
        {
            await StartRadvdAsync();
            _dhcp =
            [
                "--Dhcp:Mode=Off", "--Dhcp6:Mode=Full", $"--Dhcp6:Interface={Bridge}", $"--Dhcp6:ServerAddress={ServerAddress6}",
                "--Dhcp6:Subnets:0:Prefix=fd00:77::/64", "--Dhcp6:Subnets:0:PoolStart=fd00:77::100", "--Dhcp6:Subnets:0:PoolEnd=fd00:77::1ff",
            ];
        }
        else if (options.ProxyDhcp)
        {
            await StartDnsmasqAsync();
            _dhcp = ["--Dhcp:Mode=Proxy", $"--Dhcp:Interface={Bridge}"];
        }
        else
        {
            _dhcp =
            [
                "--Dhcp:Mode=Full", $"--Dhcp:Interface={Bridge}",
                "--Dhcp:Subnets:0:Network=10.77.0.0/24", "--Dhcp:Subnets:0:PoolStart=10.77.0.100", "--Dhcp:Subnets:0:PoolEnd=10.77.0.199",
                $"--Dhcp:Subnets:0:Router={ServerAddress}",
            ];
        }

        if (options.ManufacturedTpm)
        {
            // A vendor-made TPM: swtpm_setup --create-ek-cert under a CA only this lab's kldload trusts.
            var made = SwtpmManufacturer.Manufacture(TempDir("kle2e-made-"));
            ManufacturedTpmState = Path.Combine(made, "state");
            _dhcp = [.. _dhcp, $"--Attestation:EkRootsDir={SwtpmManufacturer.TrustDirectory(made)}"];
        }

        await StartKldloadAsync();
    }

    private async Task StartKldloadAsync()
    {
        _kldload = Command.Start("ip",
        [
            "netns", "exec", Namespace, "dotnet", KldloadDll, "serve",
            "--urls", _options.LanBoundUrls || _options.Ipv6Only ? ServerUrl : $"http://[::]:{HttpPort}",
            $"--Kldload:ServerUrl={ServerUrl}",
            $"--Kldload:DataDir={DataDir}",
            .. _dhcp,
            _options.Ipv6Only ? $"--Tftp:Endpoint=[{ServerAddress6}]:69" : $"--Tftp:Endpoint={ServerAddress}:69",
            // Debian's /usr/lib/ipxe/ipxe.efi is a symlink to /boot/ipxe.efi, outside Tftp:Root, and kldload
            // refuses to follow it; snponly.efi is a plain file there and drives the NIC through the
            // firmware's own network protocol (SNP), the one OVMF just PXE-booted over.
            "--Boot:Loaders:EfiX64=snponly.efi",
            "--Mesh:Enabled=true", $"--Mesh:Interface=klm{_suffix}",
            $"--Attestation:EnrollmentPolicy={_options.Policy}",
            "--Boot:DefaultChannel=stable",
            .. _options.Settings,
        ], ServerLog);
        _processes.Add(_kldload);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var r = await Command.RunAsync("ip", ["netns", "exec", Namespace, "curl", "-gsf", $"{ServerUrl}/readyz"], TimeSpan.FromSeconds(10));
            if (r.ExitCode == 0)
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline && !_kldload.HasExited, "kldload did not become ready:\n" + Tail(ServerLog));
            await Task.Delay(1000);
        }
    }

    /// <summary>
    /// Another provisioner takes the segment: kldload is stopped and started again on a fresh data
    /// directory (so with a mesh CA of its own, and an inventory that has never seen any node), the same
    /// image imported. What a node sees when a rogue server answers, or when a provisioner is rebuilt
    /// without its backup.
    /// </summary>
    public async Task ReplaceProvisionerAsync()
    {
        Command.Stop(_kldload!);
        _processes.Remove(_kldload!);
        DataDir = TempDir("kle2e-data-");
        await ImportAsync(await EnsureImageAsync(), "1");
        await StartKldloadAsync();
    }

    private static string KldloadDll => Path.Combine(AppContext.BaseDirectory, "kldload.dll");

    /// <summary>Runs the real <c>kldload</c> CLI inside the namespace against this lab's server and data directory.</summary>
    public Task<Command.Result> CliAsync(params string[] args) => CliAsync(TimeSpan.FromMinutes(2), args);

    /// <summary>The CLI with a longer limit than two minutes (a command that follows a VM's boot).</summary>
    public Task<Command.Result> CliAsync(TimeSpan limit, params string[] args) =>
        Command.RunAsync("ip", ["netns", "exec", Namespace, "dotnet", KldloadDll, .. args, $"--Kldload:DataDir={DataDir}", $"--Kldload:ServerUrl={ServerUrl}"], limit);

    /// <summary>Runs a program inside the lab's namespace (a peer tool such as curl or ipmitool), for at most a minute.</summary>
    public Task<Command.Result> InNamespaceAsync(params string[] args) => InLabAsync(TimeSpan.FromMinutes(1), args);

    /// <summary>
    /// Stops <c>kldload serve</c> by its PID with SIGTERM (it removes the hub interface and its
    /// wireguard-go child on the way out) and waits for it to exit; the data directory stays.
    /// </summary>
    public async Task StopKldloadAsync()
    {
        var kldload = _kldload ?? throw new InvalidOperationException("kldload is not running");
        await Command.MustRunAsync("kill", "-TERM", kldload.Id.ToString(CultureInfo.InvariantCulture));
        if (!kldload.WaitForExit(30_000))
        {
            Command.Stop(kldload);
        }

        _processes.Remove(kldload);
        _kldload = null;
    }

    /// <summary>Starts <c>kldload serve</c> again on the same data directory and settings; returns once /readyz answers.</summary>
    public Task RestartKldloadAsync() => StartKldloadAsync();

    /// <summary>Whether the hub's WireGuard interface exists in the lab namespace.</summary>
    public async Task<bool> HubInterfaceExistsAsync() =>
        (await Command.RunAsync("ip", ["netns", "exec", Namespace, "ip", "link", "show", $"klm{_suffix}"])).ExitCode == 0;

    /// <summary>Runs a program inside the lab namespace (the LAN side, where kldload runs).</summary>
    public Task<Command.Result> InLabAsync(TimeSpan limit, params string[] args) =>
        Command.RunAsync("ip", ["netns", "exec", Namespace, .. args], limit);

    private async Task ImportAsync(string dir, string version)
    {
        var import = await Command.RunAsync("dotnet", [KldloadDll, "image", "import", dir, "--name", "kldload-live", "--version", version, "--channel", "stable", $"--Kldload:DataDir={DataDir}"], TimeSpan.FromMinutes(2));
        Assert.True(import.ExitCode == 0, $"image import of {dir} failed: {import.Output}");
    }

    /// <summary>
    /// A copy of <paramref name="image"/> whose init prints <c>kldload-image: {marker}</c>: a second gzip'd
    /// cpio member appended to the initrd replaces /etc/kldload-image (the kernel unpacks concatenated
    /// initramfs archives in order, later files win).
    /// </summary>
    private async Task<string> MarkedImageAsync(string image, string marker)
    {
        var dir = TempDir("kle2e-image-");
        File.Copy(Path.Combine(image, "kernel"), Path.Combine(dir, "kernel"));
        File.Copy(Path.Combine(image, "initrd"), Path.Combine(dir, "initrd"));
        File.Copy(Path.Combine(image, "manifest.json"), Path.Combine(dir, "manifest.json"));
        var overlay = Path.Combine(dir, "overlay");
        Directory.CreateDirectory(Path.Combine(overlay, "etc"));
        await File.WriteAllTextAsync(Path.Combine(overlay, "etc", "kldload-image"), marker + "\n");
        var pack = await Command.RunAsync("sh", ["-c", "cd \"$1\" && echo etc/kldload-image | cpio --create --format=newc --owner=0:0 --quiet | gzip -n >> \"$2\"", "sh", overlay, Path.Combine(dir, "initrd")]);
        Assert.True(pack.ExitCode == 0, "cpio overlay failed: " + pack.Output);
        Directory.Delete(overlay, recursive: true);
        return dir;
    }

    /// <summary>
    /// Proxy mode's address owner: dnsmasq in a second namespace, joined to the bridge by a veth, hands out
    /// 10.77.0.100-199 with no boot options; kldload (Dhcp:Mode=Proxy) adds only the PXE answer.
    /// </summary>
    private async Task StartDnsmasqAsync()
    {
        _dnsmasqNamespace = "kle2d" + _suffix;
        var outside = "kldx" + _suffix;
        var inside = "kldd" + _suffix;
        await Command.MustRunAsync("ip", "netns", "add", _dnsmasqNamespace);
        await Command.MustRunAsync("ip", "link", "add", outside, "netns", Namespace, "type", "veth", "peer", "name", inside, "netns", _dnsmasqNamespace);
        await Ns("ip", "link", "set", outside, "master", Bridge);
        await Ns("ip", "link", "set", outside, "up");
        await Command.MustRunAsync("ip", "netns", "exec", _dnsmasqNamespace, "ip", "addr", "add", "10.77.0.2/24", "dev", inside);
        await Command.MustRunAsync("ip", "netns", "exec", _dnsmasqNamespace, "ip", "link", "set", inside, "up");
        var dnsmasqDir = TempDir("kle2e-dnsmasq-");
        DnsmasqLeases = Path.Combine(dnsmasqDir, "leases");
        var log = Path.Combine(LogDir, "dnsmasq.log");
        _processes.Add(Command.Start("ip",
        [
            "netns", "exec", _dnsmasqNamespace, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            $"--interface={inside}", "--bind-interfaces", "--dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h",
            $"--dhcp-option=3,{ServerAddress}", $"--dhcp-leasefile={DnsmasqLeases}", "--dhcp-authoritative", "--no-ping",
            "--log-dhcp", "--log-facility=-", $"--pid-file={Path.Combine(dnsmasqDir, "pid")}",
        ], log));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!Tail(log).Contains("DHCP, IP range", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "dnsmasq did not start:\n" + Tail(log));
            await Task.Delay(200);
        }
    }

    /// <summary>
    /// The IPv6-only segment's router advertisements, as the network would send them (kldload sends
    /// none for DHCPv6): radvd on the bridge with M = 1 (addresses by DHCPv6) and O = 1, the /64 on-link
    /// (L = 1) but not for SLAAC (A = 0), and a router lifetime, so iPXE starts DHCPv6 and the live
    /// image has a default route to find its boot NIC by. Forwarding is on in the lab's namespace only:
    /// radvd will not advertise a default router without it.
    /// </summary>
    private async Task StartRadvdAsync()
    {
        await Ns("sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1");
        var dir = TempDir("kle2e-radvd-");
        var conf = Path.Combine(dir, "radvd.conf");
        await File.WriteAllTextAsync(conf, $$"""
            interface {{Bridge}} {
              AdvSendAdvert on;
              MinRtrAdvInterval 3;
              MaxRtrAdvInterval 10;
              AdvManagedFlag on;
              AdvOtherConfigFlag on;
              AdvDefaultLifetime 1800;
              prefix fd00:77::/64 { AdvOnLink on; AdvAutonomous off; };
            };
            """);
        _processes.Add(Command.Start("ip",
        [
            "netns", "exec", Namespace, "radvd", "--nodaemon", "-C", conf, "-p", Path.Combine(dir, "radvd.pid"), "-m", "stderr",
        ], Path.Combine(LogDir, "radvd.log")));
    }

    /// <summary>
    /// Starts a VM with a swtpm vTPM, on its own tap on the bridge. <see cref="Firmware.SeaBios"/> boots
    /// with QEMU's iPXE option ROM; <see cref="Firmware.Ovmf"/> has the NIC's option ROM disabled
    /// (<c>romfile=</c>) so OVMF's own UEFI PXE client fetches the loader over TFTP.
    /// </summary>
    public async Task<Vm> StartVmAsync(string mac, string? tpmState = null, Firmware firmware = Firmware.SeaBios, VmHardware? hardware = null)
    {
        var (tap, index) = await AddTapAsync();
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
        // The serial port is a socket the test can type into (the image's console shell once the agent
        // is resident); everything the VM writes to it also goes to the log file, connected or not.
        var console = Path.Combine(LogDir, $"vm{index}-{_suffix}.console");
        File.Delete(console);
        List<string> args =
        [
            "netns", "exec", Namespace, .. QemuArgs(mac, state, sock, "chardev:ser0", tap, firmware, hardware ?? new VmHardware()),
            "-chardev", $"socket,id=ser0,path={console},server=on,wait=off,logfile={serial}",
        ];
        var qemu = Command.Start("ip", args, Path.Combine(LogDir, $"qemu{index}.log"));
        _processes.Add(qemu);
        return new Vm(qemu, swtpm, state, serial, tap, console);
    }

    private async Task<(string Tap, int Index)> AddTapAsync()
    {
        var index = _taps++;
        var tap = $"kltap{_suffix}{index}";
        await Ns("ip", "tuntap", "add", "dev", tap, "mode", "tap");
        await Ns("ip", "link", "set", tap, "master", Bridge);
        await Ns("ip", "link", "set", tap, "up");
        return (tap, index);
    }

    /// <summary>qemu-system-x86_64 and its arguments for a VM on <paramref name="tap"/> with the swtpm at <paramref name="sock"/>.</summary>
    private List<string> QemuArgs(string mac, string state, string sock, string serial, string tap, Firmware firmware, VmHardware hardware)
    {
        List<string> args =
        [
            "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max",
            "-m", hardware.MemoryMiB.ToString(CultureInfo.InvariantCulture), "-smp", hardware.Cpus.ToString(CultureInfo.InvariantCulture),
            "-display", "none", "-monitor", "none", "-serial", serial,
            "-chardev", $"socket,id=chrtpm,path={sock}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
            "-netdev", $"tap,id=n0,ifname={tap},script=no,downscript=no",
        ];
        if (firmware is Firmware.Ovmf or Firmware.OvmfSecureBoot)
        {
            // Each VM gets its own copy of the variable store: OVMF writes its boot entries there. The
            // Secure Boot build needs SMM (the variable store is only writable from SMM, so the OS cannot
            // change the keys) and the Microsoft-keys store (PK/KEK/db enrolled, Secure Boot on).
            var secure = firmware == Firmware.OvmfSecureBoot;
            var vars = Path.Combine(state, secure ? "OVMF_VARS.ms.fd" : "OVMF_VARS.fd");
            if (!File.Exists(vars))
            {
                File.Copy(Path.Combine(OvmfDirectory, secure ? "OVMF_VARS_4M.ms.fd" : "OVMF_VARS_4M.fd"), vars);
            }

            if (secure)
            {
                args.AddRange(["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on", "-global", "ICH9-LPC.disable_s3=1"]);
            }
            else
            {
                args.AddRange(["-machine", "q35"]);
            }

            args.AddRange(
            [
                "-drive", $"if=pflash,format=raw,unit=0,readonly=on,file={Path.Combine(OvmfDirectory, secure ? "OVMF_CODE_4M.secboot.fd" : "OVMF_CODE_4M.fd")}",
                "-drive", $"if=pflash,format=raw,unit=1,file={vars}",
                "-device", "tpm-crb,tpmdev=tpm0",
                // On the IPv6-only segment the firmware's PXE over IPv4 would only time out first.
                .. _options.Ipv6Only ? (string[])["-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no"] : [],
                "-device", $"virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1",
            ]);
        }
        else
        {
            args.AddRange(["-device", "tpm-tis,tpmdev=tpm0", "-device", $"virtio-net-pci,netdev=n0,mac={mac}", "-boot", "n"]);
        }

        if (hardware.SystemSerial is { } systemSerial)
        {
            args.AddRange(["-smbios", $"type=1,manufacturer=kldload-e2e,product=lab-vm,serial={systemSerial}"]);
        }

        if (hardware.NvmeSerial is { } nvmeSerial)
        {
            var disk = Path.Combine(state, $"nvme-{nvmeSerial}.img");
            if (!File.Exists(disk))
            {
                using var f = File.Create(disk);
                f.SetLength(64L << 20);
            }

            args.AddRange(["-drive", $"file={disk},if=none,format=raw,id=nvme0", "-device", $"nvme,drive=nvme0,serial={nvmeSerial}"]);
        }

        return args;
    }

    /// <summary>
    /// A VM behind a BMC: ipmi_sim (OpenIPMI) in the lab's namespace on 127.0.0.1:623, with the VM's
    /// KCS interface wired to it (<c>-device ipmi-bmc-extern</c> + <c>isa-ipmi-kcs</c> over a socket
    /// to ipmi_sim's <c>serial kcs ... codec VM</c>), and a chassis_control script through which
    /// ipmi_sim's power commands start the VM (its swtpm, then QEMU daemonized with a pidfile) and
    /// stop it (QEMU by the PID in that pidfile). The VM starts powered off; nothing here touches it
    /// afterwards: only the BMC does. <see cref="DisposeAsync"/> stops what the script started, by
    /// the PIDs in its pidfiles (each checked to be this VM's process first).
    /// </summary>
    public async Task<BmcVm> StartBmcVmAsync(string mac)
    {
        var (tap, index) = await AddTapAsync();
        var dir = TempDir("kle2e-bmc-");
        _bmcDirs.Add(dir);
        var sock = Path.Combine(dir, "swtpm.sock");
        var serial = Path.Combine(LogDir, $"vm{index}-bmc.serial.log");
        var qemu = QemuArgs(mac, dir, sock, "chardev:ser0", tap, Firmware.SeaBios, new VmHardware());
        qemu.AddRange(
        [
            "-chardev", $"file,id=ser0,path={serial},append=on",
            "-chardev", "socket,id=ipmi0,host=127.0.0.1,port=9002,reconnect=10",
            "-device", "ipmi-bmc-extern,id=bmc0,chardev=ipmi0", "-device", "isa-ipmi-kcs,bmc=bmc0",
            "-daemonize", "-pidfile", Path.Combine(dir, "qemu.pid"),
        ]);
        static string Quote(string a) => "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
        var start = Path.Combine(dir, "start.sh");
        await File.WriteAllTextAsync(start, $$"""
            #!/bin/sh
            # Power on: the VM's TPM, then the VM (QEMU daemonizes once it runs and writes its pidfile).
            d='{{dir}}'
            rm -f "$d/swtpm.sock"
            swtpm socket --tpm2 --tpmstate dir="$d" --ctrl type=unixio,path="$d/swtpm.sock" --daemon --pid file="$d/swtpm.pid" --log file="$d/swtpm.log"
            i=0; while [ ! -S "$d/swtpm.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
            {{string.Join(' ', qemu.Select(Quote))}}
            rm -f "$d/starting"
            """);
        var script = Path.Combine(dir, "chassis.sh");
        // ipmi_sim runs: chassis.sh [mc] get power boot ... | chassis.sh [mc] set power 1 boot pxe ...
        await File.WriteAllTextAsync(script, """
            #!/bin/sh
            d="$(dirname "$0")"
            case "$1" in 0x*) shift;; esac
            op=$1; shift
            alive() { [ -f "$d/starting" ] || { [ -f "$d/qemu.pid" ] && kill -0 "$(cat "$d/qemu.pid")" 2>/dev/null; }; }
            case "$op" in
              get) for p in "$@"; do case "$p" in
                     power) if alive; then echo power:1; else echo power:0; fi;;
                     boot) echo "boot:$(cat "$d/boot" 2>/dev/null || echo default)";;
                   esac; done;;
              set) while [ $# -ge 2 ]; do
                     echo "$1 $2" >> "$d/log"
                     case "$1:$2" in
                       power:1) if ! alive; then touch "$d/starting"; setsid "$d/start.sh" >> "$d/start.log" 2>&1 < /dev/null & fi;;
                       power:0) if [ -f "$d/qemu.pid" ]; then pid=$(cat "$d/qemu.pid"); kill "$pid" 2>/dev/null
                                  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; rm -f "$d/qemu.pid"; fi;;
                       boot:*) echo "$2" > "$d/boot";;
                     esac
                     shift 2; done;;
            esac
            """);
        foreach (var f in new[] { start, script })
        {
            File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        await File.WriteAllTextAsync(Path.Combine(dir, "lan.conf"), $"""
            name "kle2e{_suffix}"
            set_working_mc 0x20
              startlan 1
                addr 127.0.0.1 {BmcVm.Port}
                priv_limit admin
                allowed_auths_callback none md2 md5 straight
                allowed_auths_user none md2 md5 straight
                allowed_auths_operator none md2 md5 straight
                allowed_auths_admin none md2 md5 straight
                guid a123456789abcdefa123456789abcdef
              endlan
              serial kcs 127.0.0.1 9002 codec VM
              chassis_control "{script}"
            user 2 true "{BmcVm.User}" "{BmcVm.Password}" admin 10 none md2 md5 straight
            """);
        await File.WriteAllTextAsync(Path.Combine(dir, "sim.emu"), """
            mc_setbmc 0x20
            mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
            mc_enable 0x20
            """);
        Directory.CreateDirectory(Path.Combine(dir, "state"));
        var sim = Command.Start("ip", ["netns", "exec", Namespace, "ipmi_sim", "-c", Path.Combine(dir, "lan.conf"), "-f", Path.Combine(dir, "sim.emu"), "-s", Path.Combine(dir, "state"), "-n"], Path.Combine(LogDir, $"ipmi_sim{index}.log"));
        _processes.Add(sim);
        var bmc = new BmcVm(sim, dir, serial);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await IpmitoolAsync(bmc, "chassis", "power", "status")).ExitCode != 0)
        {
            Assert.True(DateTime.UtcNow < deadline && !sim.HasExited, "ipmi_sim did not answer:\n" + Tail(Path.Combine(LogDir, $"ipmi_sim{index}.log")));
            await Task.Delay(500);
        }

        return bmc;
    }

    /// <summary>ipmitool -I lanplus against a VM's BMC, from inside the namespace.</summary>
    public Task<Command.Result> IpmitoolAsync(BmcVm bmc, params string[] args) =>
        InNamespaceAsync(["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", BmcVm.Port.ToString(CultureInfo.InvariantCulture), "-U", BmcVm.User, "-P", BmcVm.Password, "-C", "3", "-N", "2", "-R", "2", .. args]);

    /// <summary>Stops QEMU and swtpm that a BMC's script started, by the PIDs in their pidfiles, each checked to be this VM's first.</summary>
    private static void StopBmcVm(string dir)
    {
        foreach (var pidfile in new[] { "qemu.pid", "swtpm.pid" })
        {
            var path = Path.Combine(dir, pidfile);
            if (!File.Exists(path) || !int.TryParse(File.ReadAllText(path).Trim(), out var pid))
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
                if (!cmdline.Contains(dir, StringComparison.Ordinal))
                {
                    continue; // the PID now names another process: leave it alone
                }

                using var p = Process.GetProcessById(pid);
                p.Kill();
                p.WaitForExit(10_000);
            }
            catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException or UnauthorizedAccessException)
            {
                // Already gone.
            }
        }
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

    /// <summary>The live node with <paramref name="mac"/> from <c>GET /api/v1/nodes</c> (a Replaced record only when no other has it), or null.</summary>
    public async Task<JsonElement?> NodeAsync(string mac)
    {
        if (await ApiAsync("nodes") is not { } list)
        {
            return null;
        }

        return list.EnumerateArray()
            .Where(n => n.GetProperty("macs").EnumerateArray().Any(m => string.Equals(m.GetString(), mac, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(n => n.GetProperty("state").GetString() == "Replaced" ? 1 : 0)
            .ThenByDescending(n => n.GetProperty("lastSeenAt").GetDateTime()) // as the server resolves a MAC two records hold
            .Select(n => (JsonElement?)n)
            .FirstOrDefault();
    }

    /// <summary>One node by id from <c>GET /api/v1/nodes/{id}</c>.</summary>
    public async Task<JsonElement> NodeByIdAsync(string id) =>
        await ApiAsync("nodes/" + id) ?? throw new InvalidOperationException($"GET /api/v1/nodes/{id} failed");

    /// <summary>A node's history from <c>GET /api/v1/nodes/{id}/events</c>, oldest first.</summary>
    public async Task<IReadOnlyList<JsonElement>> EventsAsync(string id) =>
        (await ApiAsync($"nodes/{id}/events") ?? throw new InvalidOperationException($"GET /api/v1/nodes/{id}/events failed")).EnumerateArray().ToList();

    /// <summary>GET /api/v1/nodes/{id}/hardware: the facts the node sent, and their history.</summary>
    public async Task<JsonElement> HardwareAsync(string id) =>
        await ApiAsync($"nodes/{id}/hardware") ?? throw new InvalidOperationException($"GET /api/v1/nodes/{id}/hardware failed");

    /// <summary>PUT a JSON document to the admin API; fails the test unless it is accepted.</summary>
    public async Task PutAsync(string path, string json)
    {
        var token = File.ReadAllText(Path.Combine(DataDir, "admin.token")).Trim();
        var r = await Command.RunAsync("ip", ["netns", "exec", Namespace, "curl", "-gsS", "--fail-with-body", "-X", "PUT", "-H", $"Authorization: Bearer {token}",
            "-H", "content-type: application/json", "-d", json, $"{ServerUrl}/api/v1/{path}"], TimeSpan.FromSeconds(15));
        Assert.True(r.ExitCode == 0, $"PUT /api/v1/{path} failed: {r.Output}");
    }

    /// <summary>GET a document from the admin API; fails the test unless it answers 200.</summary>
    public async Task<JsonElement> GetAsync(string path) =>
        await ApiAsync(path) ?? throw new InvalidOperationException($"GET /api/v1/{path} failed");

    private async Task<JsonElement?> ApiAsync(string path)
    {
        var token = File.ReadAllText(Path.Combine(DataDir, "admin.token")).Trim();
        var r = await Command.RunAsync("ip", ["netns", "exec", Namespace, "curl", "-gsf", "-H", $"Authorization: Bearer {token}", $"{ServerUrl}/api/v1/{path}"], TimeSpan.FromSeconds(15));
        if (r.ExitCode != 0)
        {
            return null;
        }

        using var doc = JsonDocument.Parse(r.Output);
        return doc.RootElement.Clone();
    }

    /// <summary>
    /// Polls until the node behind <paramref name="mac"/> is Ready (with <c>lastBootAt</c> after
    /// <paramref name="bootedAfter"/> when given); fails with the serial console and server log after
    /// <paramref name="limit"/>, or at once when the agent reports a refusal or OVMF falls through to its shell.
    /// </summary>
    public async Task<JsonElement> WaitReadyAsync(Vm vm, string mac, TimeSpan limit, DateTime? bootedAfter = null)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            if (await NodeAsync(mac) is { } node && node.GetProperty("state").ToString() == "Ready"
                && (bootedAfter is null || node.GetProperty("lastBootAt").GetDateTime() > bootedAfter))
            {
                return node;
            }

            var console = Tail(vm.SerialLog);
            var refused = console.Contains("refused with HTTP", StringComparison.Ordinal) || console.Contains("UEFI Interactive Shell", StringComparison.Ordinal);
            if (DateTime.UtcNow > deadline || vm.Qemu.HasExited || refused)
            {
                Assert.Fail($"node {mac} not Ready after {limit.TotalSeconds} s (qemu exited: {vm.Qemu.HasExited})\n--- serial ---\n{console}\n--- kldload ---\n{Tail(ServerLog)}");
            }

            await Task.Delay(3000);
        }
    }

    /// <summary>Polls the VM's serial console until it shows <paramref name="line"/>; returns the console.</summary>
    public async Task<string> WaitForConsoleAsync(Vm vm, string line, TimeSpan limit, TimeSpan? poll = null)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var console = File.Exists(vm.SerialLog) ? File.ReadAllText(vm.SerialLog) : string.Empty;
            if (console.Contains(line, StringComparison.Ordinal))
            {
                return console;
            }

            if (DateTime.UtcNow > deadline || vm.Qemu.HasExited)
            {
                Assert.Fail($"'{line}' not on the console after {limit.TotalSeconds} s (qemu exited: {vm.Qemu.HasExited})\n--- serial ---\n{Tail(vm.SerialLog)}\n--- kldload ---\n{Tail(ServerLog)}");
            }

            await Task.Delay(poll ?? TimeSpan.FromSeconds(2));
        }
    }

    /// <summary>
    /// Makes kldload's HTTP port refuse connections from the segment (nftables in the lab's namespace,
    /// TCP reset) until <see cref="UnblockHttpAsync"/>.
    /// </summary>
    public async Task BlockHttpAsync()
    {
        await Ns("nft", "add", "table", "inet", "kle2eblock");
        await Ns("nft", "add", "chain", "inet", "kle2eblock", "input", "{ type filter hook input priority 0 ; }");
        await Ns("nft", "add", "rule", "inet", "kle2eblock", "input", "iifname", Bridge, "tcp", "dport", HttpPort.ToString(CultureInfo.InvariantCulture), "reject", "with", "tcp", "reset");
    }

    public Task UnblockHttpAsync() => Ns("nft", "delete", "table", "inet", "kle2eblock");

    /// <summary>HTTP status of a GET from inside the namespace (curl), "000" when nothing answered.</summary>
    public async Task<string> HttpStatusAsync(string url) =>
        (await Command.RunAsync("ip", ["netns", "exec", Namespace, "curl", "-gs", "-o", "/dev/null", "-w", "%{http_code}", url], TimeSpan.FromSeconds(15))).Output.Trim();

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

        foreach (var d in _bmcDirs)
        {
            StopBmcVm(d);
        }

        _processes.Clear();
        await Command.RunAsync("ip", ["netns", "del", Namespace]);
        if (_dnsmasqNamespace is not null)
        {
            await Command.RunAsync("ip", ["netns", "del", _dnsmasqNamespace]);
        }

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

    /// <summary>out/image, built with images/build.sh when it is missing: once, however many tests start together.</summary>
    private static async Task<string> EnsureImageAsync()
    {
        var root = RepositoryRoot;
        var image = Path.Combine(root, "out", "image");
        await s_imageBuild.WaitAsync();
        try
        {
            if (!File.Exists(Path.Combine(image, "manifest.json")))
            {
                var build = await Command.RunAsync(Path.Combine(root, "images", "build.sh"), [], TimeSpan.FromMinutes(8));
                Assert.True(build.ExitCode == 0, "images/build.sh failed: " + build.Output);
            }
        }
        finally
        {
            s_imageBuild.Release();
        }

        return image;
    }

    public static string FormatSeconds(double s) => s.ToString("0.0", CultureInfo.InvariantCulture);
}

/// <summary>How a lab's kldload runs.</summary>
internal sealed record LabOptions
{
    /// <summary><c>Attestation:EnrollmentPolicy</c>.</summary>
    public string Policy { get; init; } = "Lab";

    /// <summary>More <c>--Section:Key=value</c> settings for <c>kldload serve</c>.</summary>
    public IReadOnlyList<string> Settings { get; init; } = [];

    /// <summary>dnsmasq owns the addresses and kldload runs <c>Dhcp:Mode=Proxy</c> (else Full).</summary>
    public bool ProxyDhcp { get; init; }

    /// <summary>Imports a second version of the image (marker <c>kldload-live 2</c>) onto the channel.</summary>
    public bool TwoImages { get; init; }

    /// <summary>
    /// Manufactures a TPM with EK certificates (<see cref="BootLab.ManufacturedTpmState"/>) and trusts its
    /// CA in <c>Attestation:EkRootsDir</c>.
    /// </summary>
    public bool ManufacturedTpm { get; init; }

    /// <summary>
    /// <c>--urls</c> of <c>kldload serve</c>: every address (<c>[::]</c>, the default), or only the boot LAN
    /// address, as an operator keeping kldload off other networks would; the mesh endpoints must answer
    /// on the hub's mesh address either way.
    /// </summary>
    public bool LanBoundUrls { get; init; }

    /// <summary>
    /// The segment has IPv6 only: fd00:77::1/64 on the bridge, router advertisements from radvd,
    /// <c>Dhcp6:Mode=Full</c> (DHCPv4 off), TFTP on <c>[fd00:77::1]:69</c>, and <c>--urls</c> and
    /// <c>Kldload:ServerUrl</c> <c>http://[fd00:77::1]:8080</c>.
    /// </summary>
    public bool Ipv6Only { get; init; }
}

/// <summary>The VM's firmware.</summary>
internal enum Firmware
{
    /// <summary>SeaBIOS with QEMU's iPXE option ROM on the NIC (legacy BIOS; the kernel is not measured).</summary>
    SeaBios,

    /// <summary>OVMF (UEFI) with the NIC's option ROM off: its own PXE client loads ipxe.efi over TFTP.</summary>
    Ovmf,

    /// <summary>
    /// OVMF's Secure Boot build (SMM, <c>OVMF_CODE_4M.secboot.fd</c>) with a copy of <c>OVMF_VARS_4M.ms.fd</c>
    /// (Microsoft keys enrolled, Secure Boot enforced); NIC option ROM off, as <see cref="Ovmf"/>.
    /// </summary>
    OvmfSecureBoot,
}

/// <summary>What the VM is made of (QEMU's defaults for the E2E boots unless a test says otherwise).</summary>
internal sealed record VmHardware
{
    public int MemoryMiB { get; init; } = 1024;

    public int Cpus { get; init; } = 1;

    /// <summary>SMBIOS type 1 serial number (<c>-smbios type=1,serial=</c>); QEMU's default when null.</summary>
    public string? SystemSerial { get; init; }

    /// <summary>An NVMe disk (64 MiB, sparse, in the TPM state directory) with this serial; none when null.</summary>
    public string? NvmeSerial { get; init; }
}

/// <summary>One running VM.</summary>
internal sealed record Vm(Process Qemu, Process Swtpm, string TpmState, string SerialLog, string Tap, string ConsoleSocket);

/// <summary>A VM whose power is its BMC's (ipmi_sim in the lab's namespace at 127.0.0.1:<see cref="Port"/>).</summary>
internal sealed record BmcVm(Process Sim, string Directory, string SerialLog)
{
    public const int Port = 623;
    public const string User = "admin";
    public const string Password = "s3cret";

    /// <summary>Every "set" ipmi_sim's chassis script received, in order ("boot pxe", "power 0", "power 1").</summary>
    public IReadOnlyList<string> ControlLog => File.Exists(Path.Combine(Directory, "log")) ? File.ReadAllLines(Path.Combine(Directory, "log")) : [];
}
