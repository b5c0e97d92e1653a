using System.Globalization;
using System.Text.Json;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Api;

/// <summary>A node as the admin API shows it (<c>GET /api/v1/nodes</c>).</summary>
public sealed record NodeView(
    string Id,
    string Name,
    IReadOnlyList<string> Macs,
    NodeState State,
    string? StateReason,
    string? Uuid,
    string? Serial,
    string? Manufacturer,
    string? Product,
    string? Architecture,
    string? Platform,
    string? EkFingerprint,
    bool EkApproved,
    bool HasEkCertificate,
    string? WireguardPublicKey,
    string? MeshAddress,
    string? MeshAddress4,
    string? Profile,
    string? Channel,
    string? PinnedImage,
    string? LastBootedImage,
    string? LastAttestedImageDigest,
    bool? KernelMeasured,
    DateTime FirstSeenAt,
    DateTime LastSeenAt,
    DateTime? LastBootAt,
    double? LastBootToMeshSeconds,
    string? CircuitId,
    string? RemoteId,
    IReadOnlyDictionary<string, string> Labels,
    string? ReplacedBy,
    string? Replaces)
{
    /// <summary>Where the node sits by its relay's option 82, readable (<see cref="RelayLocation.Describe"/>); null when never relayed.</summary>
    public string? Location { get; init; }

    /// <summary>Whether PCR 9 of the last attested boot measured the kernel command line kldload served.</summary>
    public bool? CommandLineMeasured { get; init; }

    /// <summary>Whether PCR 7 of the last attested boot showed Secure Boot on.</summary>
    public bool? SecureBoot { get; init; }

    /// <summary>The authorities PCR 7 says verified what the last attested boot started.</summary>
    public IReadOnlyList<string>? SecureBootSigners { get; init; }

    /// <summary>Whether PCR 9 of the last attested boot measured the initrd kldload served.</summary>
    public bool? InitrdMeasured { get; init; }

    /// <summary>Why the initrd was not measured, and which loaders would measure it.</summary>
    public string? InitrdNote => InitrdMeasured == false
        ? "initrd not measured: iPXE hands it to the kernel by the initrd= argument, which the EFI stub does not measure; a loader that serves it through LoadFile2 (GRUB 2.12 in the signed Secure Boot path) has it measured into PCR 9"
        : null;

    /// <summary>Firmware PCRs pinned at the first attestation (0, 2, 7).</summary>
    public IReadOnlyDictionary<int, string>? PinnedPcrs { get; init; }

    /// <summary>Configuration PCRs of the last attestation (1, 3, 5, 6), recorded only.</summary>
    public IReadOnlyDictionary<int, string>? ConfigurationPcrs { get; init; }

    /// <summary>The hardware facts of the last attested boot, as the node sent them; null when none.</summary>
    public JsonElement? Facts { get; init; }

    /// <summary>Whether the TPM quote bound <see cref="Facts"/>; unbound facts are shown, never compared or matched.</summary>
    public bool? FactsBound { get; init; }

    public DateTime? FactsAt { get; init; }

    /// <summary>The last power state read from the node's BMC, and when (<c>kldload nodes power NODE status</c>).</summary>
    public string? PowerState { get; init; }

    public DateTime? PowerStateAt { get; init; }

    /// <summary>CPU model and thread count, from the facts (for <c>nodes list --columns cpu</c>).</summary>
    public string? Cpu { get; init; }

    /// <summary>Memory in GiB, from the facts.</summary>
    public double? MemoryGiB { get; init; }

    /// <summary>Disks as "name model size", from the facts.</summary>
    public IReadOnlyList<string>? Disks { get; init; }

    /// <summary>GPUs as "vendor device@address", from the facts.</summary>
    public IReadOnlyList<string>? Gpus { get; init; }

    /// <summary>The node's control channel (connected, last seen, bundle epoch, certificate, peers); null when its agent has not called since kldload started.</summary>
    public Kldload.Provisioner.Mesh.ControlChannelStatus? ControlChannel { get; init; }

    /// <summary>The node's most recent WireGuard handshake with any peer, as its agent last reported it; null when none or not since kldload started.</summary>
    public DateTimeOffset? LastHandshake { get; init; }

    public static NodeView From(NodeRecord n)
    {
        ArgumentNullException.ThrowIfNull(n);
        return new NodeView(
            n.Id, n.Name, n.Macs, n.State, n.StateReason, n.Uuid, n.Serial, n.Manufacturer, n.Product, n.Architecture, n.Platform,
            n.EkFingerprint, n.EkApproved, n.EkCertificate is not null, n.WireGuardPublicKey, n.MeshAddress, n.MeshAddress4,
            n.Profile, n.Channel, n.PinnedImage?.ToString(), n.LastBootedImage?.ToString(), n.LastAttestedImageDigest, n.KernelMeasured,
            Utc(n.FirstSeenAt), Utc(n.LastSeenAt), n.LastBootAt is { } b ? Utc(b) : null, n.LastBootToMeshSeconds,
            n.Location?.CircuitId, n.Location?.RemoteId, n.Labels, n.ReplacedBy, n.Replaces)
        {
            Location = n.Location?.Describe() is { Length: > 0 } where ? where : null,
            CommandLineMeasured = n.CommandLineMeasured,
            SecureBoot = n.SecureBoot,
            SecureBootSigners = n.SecureBootSigners,
            InitrdMeasured = n.InitrdMeasured,
            PinnedPcrs = n.PinnedPcrs,
            ConfigurationPcrs = n.ConfigurationPcrs,
            PowerState = n.PowerState,
            PowerStateAt = n.PowerStateAt is { } p ? Utc(p) : null,
        }.WithFacts(n);
    }

    private NodeView WithFacts(NodeRecord n)
    {
        if (n.HardwareFacts is null)
        {
            return this;
        }

        using var document = JsonDocument.Parse(n.HardwareFacts);
        var facts = document.RootElement;
        var threads = HardwareChanges.Text(facts, "cpu.threads");
        var memory = HardwareChanges.Text(facts, "memory.totalGiB");
        return this with
        {
            Facts = facts.Clone(),
            FactsBound = n.HardwareFactsBound,
            FactsAt = n.HardwareFactsAt is { } at ? Utc(at) : null,
            Cpu = HardwareChanges.Text(facts, "cpu.model") is { } model ? threads is null ? model : $"{model} ({threads} threads)" : null,
            MemoryGiB = double.TryParse(memory, NumberStyles.Float, CultureInfo.InvariantCulture, out var gib) ? gib : null,
            Disks = List(facts, "disks", d => string.Join(' ', new[] { HardwareChanges.Text(d, "name"), HardwareChanges.Text(d, "model"), Size(d) }.Where(x => x is not null))),
            Gpus = List(facts, "gpus", g => $"{HardwareChanges.Text(g, "vendor")} {HardwareChanges.Text(g, "deviceId")}@{HardwareChanges.Text(g, "pciAddress")}"),
        };
    }

    private static string? Size(JsonElement disk) =>
        disk.TryGetProperty("sizeBytes", out var s) && s.TryGetInt64(out var bytes) ? string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:0.#}GB") : null;

    private static List<string>? List(JsonElement facts, string name, Func<JsonElement, string> describe) =>
        facts.TryGetProperty(name, out var items) && items.ValueKind == JsonValueKind.Array
            ? [.. items.EnumerateArray().Where(i => i.ValueKind == JsonValueKind.Object).Select(describe)]
            : null;

    internal static DateTime Utc(DateTime t) => t.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : t.ToUniversalTime();
}

/// <summary>
/// <c>GET /api/v1/nodes/{id}/hardware</c>: the current facts as the node sent them (canonical JSON),
/// whether the quote bound them, and earlier boots' facts, newest first.
/// </summary>
public sealed record HardwareView(string NodeId, JsonElement? Facts, bool Bound, DateTime? At, IReadOnlyList<HardwareHistoryView> History)
{
    public static HardwareView From(NodeRecord n, IReadOnlyList<HardwareFactsRecord> history)
    {
        ArgumentNullException.ThrowIfNull(n);
        ArgumentNullException.ThrowIfNull(history);
        return new HardwareView(n.Id, Parse(n.HardwareFacts), n.HardwareFactsBound, n.HardwareFactsAt is { } at ? NodeView.Utc(at) : null,
            [.. history.Select(h => new HardwareHistoryView(NodeView.Utc(h.At), h.SessionId, h.Bound, Parse(h.Facts)!.Value))]);
    }

    private static JsonElement? Parse(string? json)
    {
        if (json is null)
        {
            return null;
        }

        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}

/// <summary>One earlier boot's facts.</summary>
public sealed record HardwareHistoryView(DateTime At, string SessionId, bool Bound, JsonElement Facts);

/// <summary>A history entry as the admin API shows it.</summary>
public sealed record NodeEventView(long Id, string NodeId, DateTime At, NodeEventKind Kind, string Message, string Actor, string? Reason)
{
    public static NodeEventView From(NodeEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return new NodeEventView(e.Id, e.NodeId, NodeView.Utc(e.At), e.Kind, e.Message, e.Actor, e.Reason);
    }
}

/// <summary>Body of <c>POST /api/v1/nodes/{id}/reimage</c>: a channel, or an image name and version.</summary>
public sealed record ReimageRequest(string? Channel, string? ImageName, string? ImageVersion);

/// <summary>Body of <c>POST /api/v1/nodes/{id}/replace</c>: the new hardware's node id (or name or MAC).</summary>
public sealed record ReplaceRequest(string With);

/// <summary>Body of <c>PATCH /api/v1/nodes/{id}</c>.</summary>
public sealed record NodePatch(string? Name, Dictionary<string, string>? Labels);

/// <summary>Body of the operator actions that take only a note.</summary>
public sealed record ActionNote(string? Note);
