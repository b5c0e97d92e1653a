namespace Kldload.Provisioner.Power;

/// <summary>Where a rollout stands.</summary>
public enum RolloutState
{
    /// <summary>Waves are being rebuilt.</summary>
    Running,

    /// <summary>A node failed and the rollout was started with pause-on-failure: <c>resume</c> goes on with the next wave.</summary>
    Paused,

    /// <summary>Every node it took on is Ready on the target image.</summary>
    Completed,

    /// <summary>A node failed: nothing more was started.</summary>
    Failed,

    /// <summary>An operator stopped it: nothing more was started.</summary>
    Cancelled,
}

/// <summary>Where one node of a rollout stands.</summary>
public enum RolloutNodeState
{
    /// <summary>Waits for its wave.</summary>
    Pending,

    /// <summary>Reimaged, booted from the network once and power-cycled: waits for its attestation on the target image.</summary>
    Rebuilding,

    /// <summary>Attested the target image and Ready.</summary>
    Ready,

    /// <summary>Did not come back Ready on the target image; <see cref="RolloutNode.Reason"/> says why.</summary>
    Failed,

    /// <summary>Failed, then (auto-rollback) pinned to the previous image and rebuilt: waits for it to be Ready there.</summary>
    RollingBack,

    /// <summary>Failed, then Ready again on the previous image.</summary>
    RolledBack,
}

/// <summary>One node of a rollout (embedded in <see cref="RolloutRecord"/>).</summary>
public sealed class RolloutNode
{
    public string NodeId { get; set; } = string.Empty;

    public string Name { get; set; } = string.Empty;

    /// <summary>0-based; wave N starts once every node of waves before it is Ready.</summary>
    public int Wave { get; set; }

    public RolloutNodeState State { get; set; }

    /// <summary>Why it failed (or, after a rollback, why it had failed).</summary>
    public string? Reason { get; set; }

    /// <summary>When its current rebuild (or rollback) began: only an attestation after this counts.</summary>
    public DateTime? StartedAt { get; set; }

    public DateTime? FinishedAt { get; set; }

    /// <summary>Boot to mesh of the attested boot that made it Ready, seconds.</summary>
    public double? BootToMeshSeconds { get; set; }
}

/// <summary>A node of the channel that the rollout did not take on, and why (no BMC, not Ready, ...).</summary>
public sealed class RolloutSkip
{
    public string NodeId { get; set; } = string.Empty;

    public string Name { get; set; } = string.Empty;

    public string Reason { get; set; } = string.Empty;
}

/// <summary>
/// A fleet rollout (<see cref="IRolloutStore"/>): after a channel moved (promote or rollback),
/// rebuilds the channel's nodes that have a BMC, <see cref="MaxUnavailable"/> at a time, each proven
/// Ready on <see cref="Target"/> by its attestation before the next wave starts. Everything the runner
/// needs is here, so a restarted kldload resumes where it stopped.
/// </summary>
public sealed class RolloutRecord
{
    /// <summary>Short id, 8 lowercase hex characters.</summary>
    public string Id { get; set; } = string.Empty;

    public string Channel { get; set; } = string.Empty;

    /// <summary><c>promote</c> or <c>rollback</c>: how the channel moved.</summary>
    public string Action { get; set; } = string.Empty;

    /// <summary>The image the channel now points at (name and version).</summary>
    public Inventory.ImageRef Target { get; set; } = new();

    /// <summary>The image it pointed at before: what auto-rollback returns failed nodes to.</summary>
    public Inventory.ImageRef? Previous { get; set; }

    public int MaxUnavailable { get; set; } = 1;

    public bool PauseOnFailure { get; set; }

    public bool AutoRollback { get; set; }

    /// <summary>How long one node has to come back Ready, seconds.</summary>
    public double NodeTimeoutSeconds { get; set; }

    public RolloutState State { get; set; }

    /// <summary>For people: how it ended or why it stopped (the failure, who cancelled), or null while it runs.</summary>
    public string? Reason { get; set; }

    /// <summary>The first failure since the start (or the last resume): nothing more starts while it is set.</summary>
    public string? StopReason { get; set; }

    public string By { get; set; } = string.Empty;

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }

    public DateTime? FinishedAt { get; set; }

    public List<RolloutNode> Nodes { get; set; } = [];

    public List<RolloutSkip> Skipped { get; set; } = [];

    /// <summary>Running or paused (computed, not stored).</summary>
    public bool IsActive => State is RolloutState.Running or RolloutState.Paused;

    /// <summary>How many waves the nodes form (computed, not stored).</summary>
    public int WaveCount => Nodes.Count == 0 ? 0 : Nodes.Max(n => n.Wave) + 1;
}
