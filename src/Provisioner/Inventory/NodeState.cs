namespace Kldload.Provisioner.Inventory;

/// <summary>Where a node is in its life (docs/node-lifecycle.md).</summary>
public enum NodeState
{
    /// <summary>Seen booting (iPXE script requested); nothing proven yet.</summary>
    Discovered,

    /// <summary>Its EK is new, or its firmware changed, and it waits for an operator's approval.</summary>
    Enrolling,

    /// <summary>Credential activated: the TPM, the AK and everything the quote said are trusted.</summary>
    Attested,

    /// <summary>On the mesh: the node reached the hub through its tunnel.</summary>
    Ready,

    /// <summary>Attestation failed; the node gets no mesh identity until an operator acts.</summary>
    Quarantined,

    /// <summary>An operator assigned a new image; the next boot takes it.</summary>
    Reimaging,

    /// <summary>EK and key revoked, peer removed everywhere; attestation of that EK is refused forever.</summary>
    Decommissioned,

    /// <summary>Its identity moved to new hardware (disaster recovery); the record stays for audit.</summary>
    Replaced,
}

/// <summary>The legal state changes. Anything else is refused (HTTP 409), never applied silently.</summary>
public static class NodeTransitions
{
    private static readonly Dictionary<NodeState, NodeState[]> Allowed = new()
    {
        [NodeState.Discovered] = [NodeState.Enrolling, NodeState.Attested, NodeState.Quarantined, NodeState.Reimaging, NodeState.Decommissioned, NodeState.Replaced],
        [NodeState.Enrolling] = [NodeState.Discovered, NodeState.Attested, NodeState.Quarantined, NodeState.Reimaging, NodeState.Decommissioned, NodeState.Replaced],
        [NodeState.Attested] = [NodeState.Discovered, NodeState.Enrolling, NodeState.Ready, NodeState.Quarantined, NodeState.Reimaging, NodeState.Decommissioned, NodeState.Replaced],
        [NodeState.Ready] = [NodeState.Discovered, NodeState.Enrolling, NodeState.Attested, NodeState.Quarantined, NodeState.Reimaging, NodeState.Decommissioned, NodeState.Replaced],
        [NodeState.Quarantined] = [NodeState.Discovered, NodeState.Enrolling, NodeState.Reimaging, NodeState.Decommissioned, NodeState.Replaced],
        [NodeState.Reimaging] = [NodeState.Discovered, NodeState.Enrolling, NodeState.Attested, NodeState.Quarantined, NodeState.Decommissioned, NodeState.Replaced],
        [NodeState.Decommissioned] = [],
        [NodeState.Replaced] = [],
    };

    /// <summary>True when a node in <paramref name="from"/> may move to <paramref name="to"/>.</summary>
    public static bool IsAllowed(NodeState from, NodeState to) => Allowed[from].Contains(to);

    /// <summary>True for states no boot or operator action leaves.</summary>
    public static bool IsTerminal(NodeState state) => Allowed[state].Length == 0;
}
