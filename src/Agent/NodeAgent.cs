using System.Diagnostics;
using System.Globalization;
using Kldload.Agent.Commissioning;
using Kldload.Agent.Trust;
using Kldload.Contracts;
using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;
using Kldload.MeshCA.Links;
using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Transport;

namespace Kldload.Agent;

/// <summary>
/// The node agent's run: attestation (challenge, quote, activate) with the node's TPM, the WireGuard
/// key derived from the TPM, verification of the answer against the mesh CA pinned in the TPM, the
/// kernel WireGuard interface, a ping of the hub and ready through the mesh. Prints one line per step
/// on the console.
/// </summary>
internal sealed class NodeAgent(KernelCommandLine cmdline, AgentOptions options)
{
    /// <summary>Exit code: Ready.</summary>
    public const int ExitReady = 0;

    /// <summary>Exit code: a local problem (no TPM, no network, the mesh could not be joined).</summary>
    public const int ExitFailed = 1;

    /// <summary>Exit code: the provisioner's answer failed verification or its CA is not the pinned one.</summary>
    public const int ExitRefused = 3;

    private readonly Uri _server = cmdline.ServerUrl!;

    /// <summary>The mesh interface; kept for the life of the process (a wireguard-go backend is its child).</summary>
    private WireGuardLink? _link;

    /// <summary>What the resident agent continues with, once the node is Ready; null before.</summary>
    public ResidentState? Resident { get; private set; }

    /// <summary>The burn-in result, run once per boot even when ready is retried.</summary>
    private BurnInReport? _burnIn;

    public static void Say(string line) => Console.WriteLine($"kldload-agent: {line} [{StepClock.Mark()}]");

    /// <summary>Runs until the node is Ready (0), a fatal local problem (1) or an untrusted provisioner (3).</summary>
    public async Task<int> RunAsync(CancellationToken ct)
    {
        var nic = WaitForNetwork(ct);
        var mac = File.ReadAllText($"/sys/class/net/{nic}/address").Trim();
        Say($"network: boot interface {nic} mac {mac}");

        // The switch's LLDP neighbour, heard passively while the TPM work below runs (a few seconds at most).
        var lldp = LldpListener.ListenAsync(nic, TimeSpan.FromSeconds(3), ct);

        var devicePath = options.Tpm ?? LinuxTpmDevice.FindDevice();
        if (devicePath is null)
        {
            Say("FAILED: no TPM (/dev/tpmrm0 or /dev/tpm0); enable the TPM in the firmware or give the VM a vTPM");
            return ExitFailed;
        }

        using var tpm = new Tpm2(OpenTpm(devicePath));
        Say($"tpm: {devicePath}");
        var eventLog = ReadEventLog();
        Say(eventLog is null ? "event log: none (the firmware did not leave one)" : $"event log: {eventLog.Length} bytes");

        var facts = CollectFacts(tpm, await lldp);
        var trust = new ProvisionerTrust(new TpmCaPinStore(tpm), cmdline.Repin, TimeProvider.System, Say);
        using var http = new HttpClient { BaseAddress = _server, Timeout = TimeSpan.FromSeconds(30) };
        var client = new AttestationClient(http, tpm, cmdline.BootToken!, Say);
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        var fallbackApplied = false;
        try
        {
            trust.Announce();
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    var outcome = await client.AttestAsync(mac, eventLog, facts, ct);
                    var activation = outcome.Activation;
                    if (activation.State != "Attested" || (activation.WireguardConfig is null && activation.PeerBundle is null))
                    {
                        Say($"enrolling: node {activation.NodeId} is {activation.State}: {activation.Detail ?? "waiting for an operator"}");
                        Say($"operator: run `kldload nodes approve {activation.NodeId}` on the server; retrying");
                        await Task.Delay(backoff.Next(), ct);
                        continue;
                    }

                    var verified = trust.Accept(activation, outcome.WireGuardPublicKey, outcome.KeyEpoch);
                    if (verified.OfferedConfigurationDiffers)
                    {
                        Say("wireguard: the unsigned wireguardConfig differs from the signed peer bundle; applying the signed bundle only");
                    }

                    Say($"attested: node {verified.NodeId}{(verified.MeshIdentity == verified.NodeId ? string.Empty : $" (mesh identity {verified.MeshIdentity})")} " +
                        $"mesh {verified.Mesh.NodeAddress6}, peer bundle epoch {verified.Bundle.Epoch} verified");
                    SaveBundle(WireGuardConfigRenderer.RenderWgQuick(verified.Bundle), outcome.KeyEpoch);
                    var port = _server.IsDefaultPort ? (_server.Scheme == "https" ? 443 : 80) : _server.Port;
                    var resident = new ResidentState(verified.MeshIdentity, verified.Mesh.HubAddress.ToString(), port, nic, options.Interface,
                        activation.CaBundle!, Convert.ToHexStringLower(verified.CaKeySha256), activation.Certificate!, activation.PeerBundle!.Value);
                    var joined = await JoinMeshAsync(verified.Mesh, outcome.WireGuardPrivateKey, outcome.SessionId, verified.NodeId, ct);
                    Resident = joined == ExitReady ? resident : null;
                    return joined;
                }
                catch (HttpRequestException e)
                {
                    Say($"server {_server} unreachable ({e.Message}); check the cable/VLAN and that kldload runs; retrying");
                    if (!fallbackApplied && LoadBundle(tpm) is { } saved)
                    {
                        Say("keeping the last good peer bundle from " + options.BundlePath);
                        ApplyMesh(saved.Mesh, saved.PrivateKey);
                        fallbackApplied = true;
                    }
                }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                {
                    Say($"server {_server} timed out; retrying");
                }
                catch (StepRefusedException e)
                {
                    Say("FAILED: " + e.Message);
                }
                catch (Exception e) when (e is WireGuardLinkException or TpmException or IOException)
                {
                    Say("FAILED: " + e.Message);
                }

                await Task.Delay(backoff.Next(), ct);
            }
        }
        catch (Exception e) when (e is ProvisionerUntrustedException or CaPinMismatchException or CaPinException)
        {
            return Refuse(e, _server, Say);
        }

        return ExitFailed;
    }

    /// <summary>
    /// Says loudly why the node refuses its provisioner (several console lines, the pinned and the offered
    /// CA hash named) and returns <see cref="ExitRefused"/>. Nothing of the refused answer was applied.
    /// </summary>
    public static int Refuse(Exception refusal, Uri server, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(refusal);
        ArgumentNullException.ThrowIfNull(say);
        switch (refusal)
        {
            case CaPinMismatchException e:
                say($"REFUSED: {e.Message}");
                say($"REFUSED: expected (pinned) {CaPinDecision.Format(e.Pinned)}, offered by {server} {CaPinDecision.Format(e.Offered)}");
                say("REFUSED: either someone else answers on this network, or the provisioner's CA was replaced. Nothing was applied.");
                say("REFUSED: if the change is expected, an operator re-pins the node on the server (`kldload nodes replace`); its next boot carries kldload.repin=1");
                break;
            case ProvisionerUntrustedException e:
                say($"REFUSED: the answer of {server} failed verification ({e.Failure}): {e.Message}");
                say("REFUSED: nothing of it was applied; someone else may be answering on this network. The node stops here.");
                break;
            default:
                say("REFUSED: " + refusal.Message);
                break;
        }

        return ExitRefused;
    }

    /// <summary>The boot token is spent once activation succeeded: retry the mesh steps, never the attestation.</summary>
    private async Task<int> JoinMeshAsync(MeshConfiguration mesh, byte[] wgPrivate, string sessionId, string nodeId, CancellationToken ct)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            try
            {
                ApplyMesh(mesh, wgPrivate);
                await ReadyAsync(mesh, sessionId, nodeId, ct);
                return ExitReady;
            }
            catch (Exception e) when (e is WireGuardLinkException or HttpRequestException or StepRefusedException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                Say($"FAILED: mesh join attempt {attempt}: {e.Message}");
                await Task.Delay(backoff.Next(), ct);
            }
        }

        Say("FAILED: the node attested but could not join the mesh; check UDP to the hub's WireGuard port, then reboot the node");
        return ExitFailed;
    }

    private void ApplyMesh(MeshConfiguration mesh, byte[] wgPrivate)
    {
        var link = _link ??= WireGuardLink.Create(options.Interface, null, options.WireGuard);
        link.SyncConfiguration(mesh.SetConf, wgPrivate);
        foreach (var a in mesh.Addresses)
        {
            Run("ip", "addr", "replace", a, "dev", options.Interface);
        }

        link.Up();
        Say($"wireguard: {options.Interface} up with {string.Join(", ", mesh.Addresses)}, {link.PeerKeys().Count} peers");
    }

    private async Task ReadyAsync(MeshConfiguration mesh, string sessionId, string nodeId, CancellationToken ct)
    {
        var hub = mesh.HubAddress;
        var deadline = DateTime.UtcNow + options.MeshTimeout;
        var pinged = false;
        while (!pinged && DateTime.UtcNow < deadline)
        {
            // ping, or busybox's where no ping is installed (a host running the agent for tests).
            var code = Run("ping", "-c", "1", "-W", "2", hub.ToString());
            pinged = (code == -1 ? Run("busybox", "ping", "-c", "1", "-W", "2", hub.ToString()) : code) == 0;
        }

        Say(pinged ? $"mesh: hub {hub} answers ping" : $"mesh: hub {hub} does not answer ping; check UDP {options.Interface} traffic to the server (firewall?)");
        if (_burnIn is null && cmdline.BurnInSeconds is { } burnInSeconds)
        {
            _burnIn = await Task.Run(() => BurnIn.Run(burnInSeconds, "/", Say), ct);
            deadline = DateTime.UtcNow + options.MeshTimeout;
        }

        var port = _server.IsDefaultPort ? (_server.Scheme == "https" ? 443 : 80) : _server.Port;
        using var meshHttp = new HttpClient { BaseAddress = new Uri($"{_server.Scheme}://[{hub}]:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
        while (true)
        {
            try
            {
                var ready = await AttestationClient.PostAsync(meshHttp, "ready", new ReadyRequest(sessionId, _burnIn), AgentJsonContext.Default.ReadyRequest, AgentJsonContext.Default.ReadyResponse, ct);
                var seconds = ready.BootToMeshSeconds is { } s ? s.ToString("0.0", CultureInfo.InvariantCulture) + " s boot-to-mesh" : "boot-to-mesh unknown";
                Say($"ready: {ready.State} ({seconds})");
                Say(ready.State == "Quarantined" ? $"QUARANTINED node={nodeId}: the burn-in failed ({_burnIn?.Detail}); an operator decides" : $"READY node={nodeId} mesh={mesh.NodeAddress6}");
                return;
            }
            catch (Exception e) when ((e is HttpRequestException || e is TaskCanceledException) && DateTime.UtcNow < deadline && !ct.IsCancellationRequested)
            {
                Say($"ready through the mesh failed ({e.Message}); retrying");
                await Task.Delay(backoff.Next(), ct);
            }
        }
    }

    private string WaitForNetwork(CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + options.NetworkTimeout;
        var attempted = false;
        while (true)
        {
            if (File.Exists("/proc/net/route") && BootInterface.DefaultRouteInterface(File.ReadAllText("/proc/net/route")) is { } nic)
            {
                return nic;
            }

            if (File.Exists("/proc/net/ipv6_route") && BootInterface.DefaultRouteInterface6(File.ReadAllText("/proc/net/ipv6_route")) is { } nic6)
            {
                return nic6;
            }

            if (!attempted)
            {
                // The init normally ran udhcpc already; do it here when it did not.
                attempted = true;
                foreach (var dev in Directory.GetDirectories("/sys/class/net").Select(Path.GetFileName).Where(n => n is not "lo" and not null && File.Exists($"/sys/class/net/{n}/device/vendor")))
                {
                    Say($"network: no default route; DHCP on {dev}");
                    Run("ip", "link", "set", dev!, "up");
                    Run("udhcpc", "-i", dev!, "-n", "-q", "-t", "5", "-s", "/etc/udhcpc.script");
                }
            }

            if (DateTime.UtcNow > deadline || ct.IsCancellationRequested)
            {
                throw new IOException("no network: no interface got an address by DHCP; check the cable and the DHCP server");
            }

            Thread.Sleep(500);
        }
    }

    /// <summary>The node's facts (/sys, /proc, the TPM) in canonical form; null (none sent) if collecting them failed.</summary>
    private static byte[]? CollectFacts(Tpm2 tpm, Kldload.Facts.LldpFacts? lldp)
    {
        try
        {
            var facts = new FactsCollector("/").Collect(TpmFactsReader.Read(tpm)) with { Lldp = lldp };
            Say(lldp is null ? "lldp: no neighbour heard on the boot interface" : $"lldp: switch {lldp.SystemName ?? lldp.ChassisId} port {lldp.PortId}");
            var canonical = FactsDocument.Canonical(facts);
            Say($"facts: {FactsDocument.Summary(facts)} ({canonical.Length} bytes, bound into the quote)");
            return canonical;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Kldload.Facts.FactsRefusedException)
        {
            Say($"facts: not collected ({e.Message}); attesting without them");
            return null;
        }
    }

    private static byte[]? ReadEventLog()
    {
        const string path = "/sys/kernel/security/tpm0/binary_bios_measurements";
        if (!File.Exists(path) && Directory.Exists("/sys/kernel/security"))
        {
            Run("mount", "-t", "securityfs", "securityfs", "/sys/kernel/security");
        }

        try
        {
            return File.Exists(path) ? File.ReadAllBytes(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Keeps the verified configuration (no private key) and its key epoch in RAM (/run) for a later run of this boot.</summary>
    private void SaveBundle(string wgQuick, uint keyEpoch)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(options.BundlePath)!);
        File.WriteAllText(options.BundlePath + ".tmp", wgQuick);
        File.Move(options.BundlePath + ".tmp", options.BundlePath, overwrite: true);
        File.WriteAllText(options.BundlePath + ".keyepoch", keyEpoch.ToString(CultureInfo.InvariantCulture));
    }

    private (MeshConfiguration Mesh, byte[] PrivateKey)? LoadBundle(Tpm2 tpm)
    {
        if (!File.Exists(options.BundlePath) || MeshConfiguration.TryParse(File.ReadAllText(options.BundlePath), out _) is not { } mesh)
        {
            return null;
        }

        var epochFile = options.BundlePath + ".keyepoch";
        var epoch = File.Exists(epochFile) && uint.TryParse(File.ReadAllText(epochFile).Trim(), CultureInfo.InvariantCulture, out var e) ? e : 0;
        using var hmac = TpmHmacKey.Open(tpm);
        return (mesh, WireGuardKeyDerivation.DerivePrivateKey(new TpmHmacAdapter(hmac), epoch));
    }

    /// <summary>A TPM device path, or <c>swtpm:HOST:PORT</c> (swtpm's TCP server, for tests without a TPM device).</summary>
    private static ITpmTransport OpenTpm(string spec)
    {
        if (spec.StartsWith("swtpm:", StringComparison.Ordinal))
        {
            var hostPort = spec["swtpm:".Length..];
            var colon = hostPort.LastIndexOf(':');
            return new SwtpmTcpTransport(hostPort[..colon], int.Parse(hostPort[(colon + 1)..], CultureInfo.InvariantCulture));
        }

        return new LinuxTpmDevice(spec);
    }

    private sealed class TpmHmacAdapter(TpmHmacKey key) : ITpmHmac
    {
        public byte[] Hmac(ReadOnlySpan<byte> message) => key.Hmac(message);
    }

    internal static int Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        try
        {
            using var p = Process.Start(psi)!;
            p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            if (!p.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                p.Kill();
                return -1;
            }

            return p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }
}

/// <summary>Where and how long; the environment (<see cref="FromEnvironment"/>) may change where.</summary>
internal sealed record AgentOptions
{
    public string Interface { get; init; } = "kl0";

    /// <summary>Where the agent keeps this boot's state (RAM: <c>/run</c>).</summary>
    public string StateDirectory { get; init; } = "/run/kldload";

    public string BundlePath => Path.Combine(StateDirectory, "mesh.conf");

    public string ResidentStatePath => Path.Combine(StateDirectory, "resident.json");

    /// <summary>TPM device path or <c>swtpm:HOST:PORT</c>; null = <c>/dev/tpmrm0</c> or <c>/dev/tpm0</c>.</summary>
    public string? Tpm { get; init; }

    /// <summary>WireGuard implementation; null = the kernel module, else wireguard-go.</summary>
    public WireGuardBackend? WireGuard { get; init; } = WireGuardBackend.Kernel;

    /// <summary>Stay on the node after Ready (the control channel, metrics).</summary>
    public bool Resident { get; init; } = true;

    /// <summary>
    /// The live image runs the agent as is; tests run several in network namespaces on one host and
    /// set <c>KLDLOAD_AGENT_STATE</c> (state directory), <c>KLDLOAD_AGENT_INTERFACE</c>,
    /// <c>KLDLOAD_AGENT_TPM</c> (<c>swtpm:HOST:PORT</c>), <c>KLDLOAD_AGENT_WIREGUARD</c>
    /// (<c>kernel</c>, <c>userspace</c>, <c>auto</c>) and <c>KLDLOAD_AGENT_RESIDENT=0</c>.
    /// </summary>
    public static AgentOptions FromEnvironment(Func<string, string?> env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var o = new AgentOptions();
        return o with
        {
            StateDirectory = env("KLDLOAD_AGENT_STATE") is { Length: > 0 } dir ? dir : o.StateDirectory,
            Interface = env("KLDLOAD_AGENT_INTERFACE") is { Length: > 0 } name ? name : o.Interface,
            Tpm = env("KLDLOAD_AGENT_TPM") is { Length: > 0 } tpm ? tpm : null,
            WireGuard = env("KLDLOAD_AGENT_WIREGUARD") switch
            {
                "userspace" => WireGuardBackend.Userspace,
                "auto" => null,
                _ => WireGuardBackend.Kernel,
            },
            Resident = env("KLDLOAD_AGENT_RESIDENT") != "0",
        };
    }

    public TimeSpan NetworkTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan MeshTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
