using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Inventory;

/// <summary>What kind of thing happened to a node.</summary>
public enum NodeEventKind
{
    Dhcp,
    Tftp,
    Script,
    ImageFetch,
    Attestation,
    StateChange,
    Operator,

    /// <summary>Hardware facts: a change between attested boots, a cable that is not where the relay says.</summary>
    Hardware,

    /// <summary>Out-of-band power through the node's BMC: a BMC set or refused, a power action, a state read, a BMC that did not answer.</summary>
    Power,
}

/// <summary>One entry of a node's append-only history (LiteDB collection <c>events</c>).</summary>
public sealed class NodeEvent : IKldloadDocument
{
    /// <summary>Sequence number assigned by the store; increases with time.</summary>
    public long Id { get; set; }

    public string NodeId { get; set; } = string.Empty;

    public DateTime At { get; set; }

    public NodeEventKind Kind { get; set; }

    public string Message { get; set; } = string.Empty;

    /// <summary>Who did it: <c>node</c> for boot steps, the operator's name for operator actions.</summary>
    public string Actor { get; set; } = "node";

    /// <summary>Machine-readable reason (attestation failure reason, new state).</summary>
    public string? Reason { get; set; }
}
