using System.Text.Json;
using Kldload.Bmc;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Power;

/// <summary>
/// Whether a BMC belongs to the node it was set on: the system UUID the BMC reports against the node's
/// SMBIOS UUID (the attested facts' <c>system.uuid</c> when the quote bound them, else the UUID the
/// firmware sent at boot). Decides only; the caller stores the warning.
/// </summary>
public static class PairingCheck
{
    /// <summary>The node's SMBIOS UUID, best source first; null when the node never reported one.</summary>
    public static Guid? NodeUuid(NodeRecord node)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (node.HardwareFacts is not null && node.HardwareFactsBound)
        {
            using var facts = JsonDocument.Parse(node.HardwareFacts);
            if (HardwareChanges.Text(facts.RootElement, "system.uuid") is { } attested && Guid.TryParse(attested, out var a))
            {
                return a;
            }
        }

        return node.Uuid is not null && Guid.TryParse(node.Uuid, out var u) ? u : null;
    }

    /// <summary>A warning for the operator, or null when the BMC's UUID is the node's.</summary>
    public static string? Warning(BmcSystemUuid? bmc, Guid? node, string? bmcError)
    {
        if (bmc is null)
        {
            return $"pairing not checked: the BMC did not report a system UUID ({bmcError})";
        }

        if (node is null)
        {
            return $"pairing not checked: the node has reported no SMBIOS UUID yet (the BMC says {bmc})";
        }

        return bmc.Matches(node.Value)
            ? null
            : $"the BMC's system UUID {bmc} differs from the node's SMBIOS UUID {node}: is this the right BMC for this node?";
    }
}
