using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kldload.MeshCA;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Attest.Bench;

/// <summary>The steps of one boot, in order; the index is the column of <see cref="BootTimings"/>.</summary>
public enum BootStep
{
    Script,
    Challenge,
    Quote,
    Activate,
    Ready,
}

/// <summary>Milliseconds each step of one boot took, and when the boot started and ended (bench clock).</summary>
public sealed record BootTimings(double[] StepMs, double StartedMs, double EndedMs);

/// <summary>A step answered with something other than success; the bench counts these and stops on the first.</summary>
public sealed class FleetStepException(string message) : Exception(message);

/// <summary>
/// One simulated node: a <see cref="SimulatedTpm"/> and a MAC, booting the way an iPXE node with
/// kldload-agent does: <c>GET /boot.ipxe?mac=..</c> (the boot token is on the kernel line), then
/// challenge, quote, activate and ready with the agent's wire format (<c>src/Agent/AttestationClient.cs</c>).
/// No event log is sent: a BIOS-style boot, accepted by <c>Attestation:EnrollmentPolicy=Lab</c>
/// while <c>Attestation:RequireMeasuredKernel</c> is false.
/// </summary>
public sealed partial class FleetNode(SimulatedTpm tpm, string mac, string uuid) : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly int[] DefaultPcrs = [0, 1, 2, 3, 4, 5, 6, 7, 9];
    private readonly byte[] _wgPrivate = RandomNumberGenerator.GetBytes(32);

    public string Mac => mac;

    /// <summary>Boots once: script to Ready. Returns the step timings; throws <see cref="FleetStepException"/> on any refusal.</summary>
    public async Task<BootTimings> BootAsync(HttpClient http, Stopwatch clock, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(clock);
        var steps = new double[5];
        var started = clock.Elapsed.TotalMilliseconds;
        var t = started;
        double Lap()
        {
            var now = clock.Elapsed.TotalMilliseconds;
            var d = now - t;
            t = now;
            return d;
        }

        var script = await GetScriptAsync(http, ct);
        var token = TokenOnKernelLine().Match(script) is { Success: true } m ? m.Groups[1].Value
            : throw new FleetStepException($"{mac}: the boot script has no kldload.token (no image for the node?): {script[..Math.Min(script.Length, 200)]}");
        steps[(int)BootStep.Script] = Lap();

        var challenge = await PostAsync(http, "challenge", new { bootToken = token, mac }, ct);
        var sessionId = challenge.GetProperty("sessionId").GetString()!;
        var nonce = Convert.FromBase64String(challenge.GetProperty("nonce").GetString()!);
        var pcrs = challenge.TryGetProperty("pcrSelection", out var sel) && sel.TryGetProperty("sha256", out var list)
            ? list.EnumerateArray().Select(e => e.GetInt32()).ToArray()
            : DefaultPcrs;
        var epoch = challenge.TryGetProperty("keyEpoch", out var e) ? e.GetUInt32() : 0;
        steps[(int)BootStep.Challenge] = Lap();

        var wgPublic = WireGuardKey.PublicKeyOf(EpochKey(epoch));
        var (attest, signature) = tpm.Quote(SHA256.HashData([.. nonce, .. wgPublic]), pcrs);
        var quoteBody = new
        {
            sessionId,
            ekPublic = Convert.ToBase64String(tpm.EkPublic.ToSizedBytes()),
            ekCertificate = (string?)null,
            ekCertificateChain = (string[]?)null,
            akPublic = Convert.ToBase64String(tpm.AkPublic.ToSizedBytes()),
            quote = Convert.ToBase64String(attest),
            signature = Convert.ToBase64String(TpmMarshal.ToBytes(signature)),
            pcrs = new Dictionary<string, Dictionary<string, string>>
            {
                ["sha256"] = pcrs.ToDictionary(p => p.ToString(CultureInfo.InvariantCulture), p => Convert.ToHexStringLower(tpm.Pcr(p))),
            },
            eventLog = (string?)null,
            wireguardPublicKey = Convert.ToBase64String(wgPublic),
        };
        var credential = await PostAsync(http, "quote", quoteBody, ct);
        steps[(int)BootStep.Quote] = Lap();

        var blob = TpmMarshal.Read<Tpm2bIdObject>(Convert.FromBase64String(credential.GetProperty("credentialBlob").GetString()!));
        var secret = TpmMarshal.Read<Tpm2bEncryptedSecret>(Convert.FromBase64String(credential.GetProperty("encryptedSecret").GetString()!));
        byte[] recovered;
        try
        {
            recovered = tpm.ActivateCredential(blob, secret);
        }
        catch (CryptographicException x)
        {
            throw new FleetStepException($"{mac}: ActivateCredential failed: {x.Message}");
        }

        var proof = Convert.ToBase64String(HMACSHA256.HashData(recovered, Encoding.UTF8.GetBytes(sessionId)));
        var activated = await PostAsync(http, "activate", new { sessionId, proof }, ct);
        if (activated.GetProperty("state").GetString() != "Attested")
        {
            throw new FleetStepException($"{mac}: activate answered state {activated.GetProperty("state")}: {activated.GetProperty("detail")}");
        }

        steps[(int)BootStep.Activate] = Lap();
        var ready = await PostAsync(http, "ready", new { sessionId }, ct);
        if (ready.GetProperty("state").GetString() != "Ready")
        {
            throw new FleetStepException($"{mac}: ready answered state {ready.GetProperty("state")}");
        }

        steps[(int)BootStep.Ready] = Lap();
        return new BootTimings(steps, started, t);
    }

    /// <summary>The node's WireGuard private key at a key epoch (the agent derives it from the TPM; any fixed function will do here).</summary>
    private byte[] EpochKey(uint epoch) => SHA256.HashData([.. _wgPrivate, .. BitConverter.GetBytes(epoch)]);

    private async Task<string> GetScriptAsync(HttpClient http, CancellationToken ct)
    {
        using var response = await http.GetAsync(new Uri($"/boot.ipxe?mac={mac}&uuid={uuid}&platform=pcbios&arch=x86_64&manufacturer=kldload-bench&product=simulated", UriKind.Relative), ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        return response.StatusCode == HttpStatusCode.OK ? text : throw new FleetStepException($"{mac}: /boot.ipxe answered {(int)response.StatusCode}: {text}");
    }

    private async Task<JsonElement> PostAsync(HttpClient http, string step, object body, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync(new Uri($"/api/v1/attest/{step}", UriKind.Relative), body, Json, ct);
        if ((int)response.StatusCode >= 300)
        {
            throw new FleetStepException($"{mac}: {step} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
        }

        return await response.Content.ReadFromJsonAsync<JsonElement>(Json, ct);
    }

    public void Dispose() => tpm.Dispose();

    [GeneratedRegex(@"kldload\.token=([A-Za-z0-9_-]+)")]
    private static partial Regex TokenOnKernelLine();
}
