using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Kldload.MeshCA;
using Kldload.MeshCA.Links;
using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Transport;

namespace Kldload.Agent;

/// <summary>A step the server refused; the message says what the operator can do.</summary>
internal sealed class StepRefusedException(string message) : Exception(message);

/// <summary>
/// The node agent's run: attestation (challenge, quote, activate) with the node's TPM, the WireGuard
/// key derived from the TPM, the kernel WireGuard interface, a ping of the hub and ready through the
/// mesh. Prints one line per step on the console.
/// </summary>
internal sealed class NodeAgent(KernelCommandLine cmdline, AgentOptions options)
{
    private static readonly int[] DefaultPcrs = [0, 1, 2, 3, 4, 5, 6, 7];
    private readonly Uri _server = cmdline.ServerUrl!;

    public static void Say(string line) => Console.WriteLine($"kldload-agent: {line} [{StepClock.Mark()}]");

    /// <summary>Runs until the node is Ready (returns 0) or a fatal local problem (returns 1).</summary>
    public async Task<int> RunAsync(CancellationToken ct)
    {
        var nic = WaitForNetwork(ct);
        var mac = File.ReadAllText($"/sys/class/net/{nic}/address").Trim();
        Say($"network: boot interface {nic} mac {mac}");

        var devicePath = LinuxTpmDevice.FindDevice();
        if (devicePath is null)
        {
            Say("FAILED: no TPM (/dev/tpmrm0 or /dev/tpm0); enable the TPM in the firmware or give the VM a vTPM");
            return 1;
        }

        using var tpm = new Tpm2(new LinuxTpmDevice(devicePath));
        Say($"tpm: {devicePath}");
        var eventLog = ReadEventLog();
        Say(eventLog is null ? "event log: none (the firmware did not leave one)" : $"event log: {eventLog.Length} bytes");

        byte[] wgPrivate;
        using (var hmac = TpmHmacKey.Open(tpm))
        {
            wgPrivate = WireGuardKeyDerivation.DerivePrivateKey(new TpmHmacAdapter(hmac), 0);
        }

        var wgPublic = WireGuardKey.PublicKeyOf(wgPrivate);
        Say($"wireguard key: derived from the TPM (epoch 0), public {WireGuardKey.ToBase64(wgPublic)}");

        using var http = new HttpClient { BaseAddress = _server, Timeout = TimeSpan.FromSeconds(30) };
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        var fallbackApplied = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var (sessionId, activation) = await AttestAsync(http, tpm, mac, eventLog, wgPublic, ct);
                if (activation.State != "Attested" || activation.WireguardConfig is null)
                {
                    Say($"enrolling: node {activation.NodeId} is {activation.State}: {activation.Detail ?? "waiting for an operator"}");
                    Say($"operator: run `kldload nodes approve {activation.NodeId}` on the server; retrying");
                    await Task.Delay(backoff.Next(), ct);
                    continue;
                }

                var mesh = MeshConfiguration.TryParse(activation.WireguardConfig, out var error)
                    ?? throw new StepRefusedException($"activate returned an unusable mesh configuration: {error}");
                Say($"attested: node {activation.NodeId} mesh {mesh.NodeAddress6}");
                SaveBundle(activation.WireguardConfig);
                return await JoinMeshAsync(mesh, wgPrivate, sessionId, activation.NodeId, ct);
            }
            catch (HttpRequestException e)
            {
                Say($"server {_server} unreachable ({e.Message}); check the cable/VLAN and that kldload runs; retrying");
                if (!fallbackApplied && LoadBundle() is { } saved && MeshConfiguration.TryParse(saved, out _) is { } old)
                {
                    Say("keeping the last good peer bundle from " + options.BundlePath);
                    ApplyMesh(old, wgPrivate);
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

        return 1;
    }

    private async Task<(string SessionId, ActivateResponse Activation)> AttestAsync(
        HttpClient http, Tpm2 tpm, string mac, byte[]? eventLog, byte[] wgPublic, CancellationToken ct)
    {
        Say($"challenge: {_server}");
        var challenge = await PostAsync(http, "challenge", new ChallengeRequest(cmdline.BootToken!, mac), AgentJsonContext.Default.ChallengeRequest, AgentJsonContext.Default.ChallengeResponse, ct);
        var pcrs = challenge.PcrSelection is { } sel && sel.TryGetValue("sha256", out var list) ? [.. list] : DefaultPcrs;

        using var ek = EndorsementKey.Create(tpm, EkKind.RsaL1);
        Say("ek: created (RSA 2048, TCG L-1)");
        using var ak = AttestationKey.Create(tpm, ek, TpmTemplates.AkRsa2048());
        Say("ak: created (RSA 2048)");
        var nonce = Convert.FromBase64String(challenge.Nonce);
        var selection = TpmlPcrSelection.Create(TpmAlgId.Sha256, pcrs);
        var quote = ak.Quote(SHA256.HashData([.. nonce, .. wgPublic]), selection);
        var values = tpm.PcrRead(selection);
        var request = new QuoteRequest(
            challenge.SessionId,
            Convert.ToBase64String(ek.Public.ToSizedBytes()),
            Convert.ToBase64String(ak.Public.ToSizedBytes()),
            Convert.ToBase64String(quote.AttestBytes),
            Convert.ToBase64String(TpmMarshal.ToBytes(quote.Signature)),
            new Dictionary<string, Dictionary<string, string>>
            {
                ["sha256"] = values.ToDictionary(kv => kv.Key.Pcr.ToString(CultureInfo.InvariantCulture), kv => Convert.ToHexStringLower(kv.Value)),
            },
            eventLog is null ? null : Convert.ToBase64String(eventLog),
            Convert.ToBase64String(wgPublic));
        Say($"quote: sha256 PCRs {string.Join(',', pcrs)}");
        var credential = await PostAsync(http, "quote", request, AgentJsonContext.Default.QuoteRequest, AgentJsonContext.Default.QuoteResponse, ct);

        var blob = TpmMarshal.Read<Tpm2bIdObject>(Convert.FromBase64String(credential.CredentialBlob));
        var secret = TpmMarshal.Read<Tpm2bEncryptedSecret>(Convert.FromBase64String(credential.EncryptedSecret));
        var recovered = ak.ActivateCredential(ek, blob, secret);
        var proof = Convert.ToBase64String(HMACSHA256.HashData(recovered, Encoding.UTF8.GetBytes(challenge.SessionId)));
        Say("activate: credential recovered by the TPM");
        var activation = await PostAsync(http, "activate", new ActivateRequest(challenge.SessionId, proof), AgentJsonContext.Default.ActivateRequest, AgentJsonContext.Default.ActivateResponse, ct);
        return (challenge.SessionId, activation);
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
                return 0;
            }
            catch (Exception e) when (e is WireGuardLinkException or HttpRequestException or StepRefusedException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                Say($"FAILED: mesh join attempt {attempt}: {e.Message}");
                await Task.Delay(backoff.Next(), ct);
            }
        }

        Say("FAILED: the node attested but could not join the mesh; check UDP to the hub's WireGuard port, then reboot the node");
        return 1;
    }

    private void ApplyMesh(MeshConfiguration mesh, byte[] wgPrivate)
    {
        var link = WireGuardLink.Create(options.Interface, null, WireGuardBackend.Kernel);
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
            pinged = Run("ping", "-c", "1", "-W", "2", hub.ToString()) == 0;
        }

        Say(pinged ? $"mesh: hub {hub} answers ping" : $"mesh: hub {hub} does not answer ping; check UDP {options.Interface} traffic to the server (firewall?)");
        var port = _server.IsDefaultPort ? (_server.Scheme == "https" ? 443 : 80) : _server.Port;
        using var meshHttp = new HttpClient { BaseAddress = new Uri($"{_server.Scheme}://[{hub}]:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
        while (true)
        {
            try
            {
                var ready = await PostAsync(meshHttp, "ready", new ReadyRequest(sessionId), AgentJsonContext.Default.ReadyRequest, AgentJsonContext.Default.ReadyResponse, ct);
                var seconds = ready.BootToMeshSeconds is { } s ? s.ToString("0.0", CultureInfo.InvariantCulture) + " s boot-to-mesh" : "boot-to-mesh unknown";
                Say($"ready: {ready.State} ({seconds})");
                Say($"READY node={nodeId} mesh={mesh.NodeAddress6}");
                return;
            }
            catch (Exception e) when ((e is HttpRequestException || e is TaskCanceledException) && DateTime.UtcNow < deadline && !ct.IsCancellationRequested)
            {
                Say($"ready through the mesh failed ({e.Message}); retrying");
                await Task.Delay(backoff.Next(), ct);
            }
        }
    }

    private static async Task<TResponse> PostAsync<TRequest, TResponse>(HttpClient http, string step, TRequest body,
        System.Text.Json.Serialization.Metadata.JsonTypeInfo<TRequest> requestType,
        System.Text.Json.Serialization.Metadata.JsonTypeInfo<TResponse> responseType, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync(new Uri($"api/v1/attest/{step}", UriKind.Relative), body, requestType, ct);
        if ((int)response.StatusCode >= 400)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            string detail;
            try
            {
                var problem = System.Text.Json.JsonSerializer.Deserialize(text, AgentJsonContext.Default.ProblemResponse);
                detail = $"{problem?.Reason}: {problem?.Detail ?? problem?.Title}";
            }
            catch (System.Text.Json.JsonException)
            {
                detail = text;
            }

            throw new StepRefusedException($"{step} refused with HTTP {(int)response.StatusCode} ({detail}); see `kldload nodes show` on the server");
        }

        return await response.Content.ReadFromJsonAsync(responseType, ct)
            ?? throw new StepRefusedException($"{step}: empty response from the server");
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

    private void SaveBundle(string wgQuick)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(options.BundlePath)!);
        File.WriteAllText(options.BundlePath + ".tmp", wgQuick);
        File.Move(options.BundlePath + ".tmp", options.BundlePath, overwrite: true);
    }

    private string? LoadBundle() => File.Exists(options.BundlePath) ? File.ReadAllText(options.BundlePath) : null;

    private static int Run(string file, params string[] args)
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

    private sealed class TpmHmacAdapter(TpmHmacKey key) : ITpmHmac
    {
        public byte[] Hmac(ReadOnlySpan<byte> message) => key.Hmac(message);
    }
}

/// <summary>Where and how long.</summary>
internal sealed record AgentOptions
{
    public string Interface { get; init; } = "kl0";

    public string BundlePath { get; init; } = "/run/kldload/mesh.conf";

    public TimeSpan NetworkTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan MeshTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
