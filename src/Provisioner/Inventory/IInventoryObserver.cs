namespace Kldload.Provisioner.Inventory;

/// <summary>What the inventory reports besides node events: boot steps recorded and those no node could be found for.</summary>
public interface IInventoryObserver
{
    /// <summary>A boot step of a known (or newly discovered) node was recorded.</summary>
    void BootStepRecorded(NodeEventKind stage);

    /// <summary>A TFTP transfer or image download came from an address no node is known at.</summary>
    void BootStepUnattributed(NodeEventKind kind);
}

/// <summary>An observer that reports nothing (a <see cref="NodeService"/> built without a host).</summary>
public sealed class SilentInventoryObserver : IInventoryObserver
{
    /// <summary>The one instance.</summary>
    public static readonly SilentInventoryObserver Instance = new();

    private SilentInventoryObserver()
    {
    }

    /// <inheritdoc/>
    public void BootStepRecorded(NodeEventKind stage)
    {
    }

    /// <inheritdoc/>
    public void BootStepUnattributed(NodeEventKind kind)
    {
    }
}
