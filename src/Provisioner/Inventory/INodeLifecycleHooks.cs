namespace Kldload.Provisioner.Inventory;

/// <summary>Things that must happen elsewhere when an operator changes a node (mesh revocation, peers).</summary>
public interface INodeLifecycleHooks
{
    /// <summary>The node's EK and WireGuard key are revoked; its peer must disappear everywhere.</summary>
    void OnDecommissioned(NodeRecord node);

    /// <summary>The identity of <paramref name="old"/> moved to <paramref name="replacement"/>.</summary>
    void OnReplaced(NodeRecord old, NodeRecord replacement);

    /// <summary>The node's key epoch was raised: its current WireGuard key must stop working now.</summary>
    void OnKeyRotated(NodeRecord node);
}
