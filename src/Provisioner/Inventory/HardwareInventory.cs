using System.Globalization;
using System.Text;
using System.Text.Json;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Inventory;

/// <summary>What a boot's facts mean for the node: the differences from the last bound facts, whether to hold it, a cable mismatch.</summary>
public sealed record HardwareReview(IReadOnlyList<HardwareDifference> Changes, bool Hold, string? CableMismatch)
{
    public static readonly HardwareReview None = new([], false, null);

    /// <summary>The differences as one sentence.</summary>
    public string Summary => string.Join("; ", Changes.Select(c => c.Message));
}

/// <summary>
/// The hardware inventory: each attested boot's facts (history kept), compared with the previous
/// bound facts. Unbound facts (sent beside a quote of the older form) are stored and shown, never
/// compared, matched or allowed to change a node's state: nothing unproven changes a node.
/// </summary>
public sealed class HardwareInventory
{
    private readonly IHardwareFactsStore _history;
    private readonly NodeService _nodes;
    private readonly InventorySettings _settings;

    public HardwareInventory(IHardwareFactsStore history, NodeService nodes, InventorySettings settings)
    {
        ArgumentNullException.ThrowIfNull(history);
        _history = history;
        _nodes = nodes;
        _settings = settings;
    }

    /// <summary>Every stored facts record of a node, newest first.</summary>
    public IReadOnlyList<HardwareFactsRecord> History(string nodeId, int limit = 50) => _history.History(nodeId, limit);

    /// <summary>Compares a proven boot's facts with the node's last bound facts. Unbound or absent facts change nothing.</summary>
    public HardwareReview Review(NodeRecord node, string? facts, bool bound)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (facts is null || !bound)
        {
            return HardwareReview.None;
        }

        using var current = JsonDocument.Parse(facts);
        var cable = CableCheck(node.Location, current.RootElement);
        var previous = _history.LastBound(node.Id);
        if (previous is null)
        {
            return new HardwareReview([], false, cable);
        }

        using var before = JsonDocument.Parse(previous.Facts);
        var changes = HardwareChanges.Compare(before.RootElement, current.RootElement);
        return new HardwareReview(changes, changes.Count > 0 && _settings.HardwareChange == HardwareChange.Quarantine, cable);
    }

    /// <summary>Stores a boot's facts on the node and in the history; call inside the inventory transaction that applies the boot.</summary>
    public void Store(NodeRecord node, string sessionId, string facts, bool bound, DateTime at)
    {
        ArgumentNullException.ThrowIfNull(node);
        node.HardwareFacts = facts;
        node.HardwareFactsBound = bound;
        node.HardwareFactsAt = at;
        _history.Append(new HardwareFactsRecord { NodeId = node.Id, At = at, SessionId = sessionId, Bound = bound, Facts = facts });
    }

    /// <summary>Records what a review found in the node's history.</summary>
    public void RecordEvents(NodeRecord node, HardwareReview review, string? facts, bool factsBound)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(review);
        if (facts is not null && !factsBound)
        {
            _nodes.Record(node, NodeEventKind.Hardware, "facts stored as unbound: the quote used the older qualifying data SHA-256(nonce || WireGuard key); they are shown, never compared or matched", "node", "facts-unbound");
        }

        if (review.Changes.Count > 0)
        {
            var action = review.Hold ? " (Inventory:HardwareChange=Quarantine: the node waits for kldload nodes approve)" : string.Empty;
            _nodes.Record(node, NodeEventKind.Hardware, $"hardware changed since the previous attested boot: {review.Summary}{action}", "node", "hardware-change");
        }

        if (review.CableMismatch is not null)
        {
            _nodes.Record(node, NodeEventKind.Hardware, review.CableMismatch, "node", "cable-mismatch");
        }
    }

    /// <summary>
    /// The cable check: the relay's option 82 (circuit id: the switch port; remote id: the switch)
    /// against the LLDP neighbour the node heard on its boot NIC. Null when either side is unknown or
    /// they agree; a sentence when the node is not where the relay says it is.
    /// </summary>
    public static string? CableCheck(RelayLocation? relay, JsonElement facts)
    {
        if (relay is null || facts.ValueKind != JsonValueKind.Object || !facts.TryGetProperty("lldp", out var lldp) || lldp.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var portId = HardwareChanges.Text(lldp, "portId");
        var chassisId = HardwareChanges.Text(lldp, "chassisId");
        var circuit = Printable(relay.CircuitId);
        var remote = relay.RemoteId;
        var portDiffers = portId is not null && circuit is not null
            && !circuit.Contains(portId, StringComparison.OrdinalIgnoreCase) && !portId.Contains(circuit, StringComparison.OrdinalIgnoreCase);
        var switchDiffers = chassisId is not null && remote is not null
            && !string.Equals(HexDigits(chassisId), HexDigits(remote), StringComparison.Ordinal)
            && !string.Equals(Printable(remote), chassisId, StringComparison.OrdinalIgnoreCase);
        if (!portDiffers && !switchDiffers)
        {
            return null;
        }

        return $"cable check: the relay (DHCP option 82) says circuit {circuit ?? relay.CircuitId ?? "-"}, remote {remote ?? "-"}; " +
            $"LLDP on the boot NIC says port {portId ?? "-"}, chassis {chassisId ?? "-"}: the node is not where the relay says it is";
    }

    /// <summary>An option 82 sub-option (stored as hex) as text when it is printable ASCII, else null.</summary>
    private static string? Printable(string? hex)
    {
        if (hex is null || hex.Length % 2 != 0)
        {
            return null;
        }

        try
        {
            var bytes = Convert.FromHexString(hex);
            return bytes.Length > 0 && bytes.All(b => b is >= 0x20 and < 0x7f) ? Encoding.ASCII.GetString(bytes) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static string HexDigits(string s) =>
        new([.. s.ToLower(CultureInfo.InvariantCulture).Where(char.IsAsciiHexDigit)]);
}
