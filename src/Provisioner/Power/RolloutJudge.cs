using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Power;

/// <summary>What one node's rebuild has come to.</summary>
public enum RebuildVerdict
{
    Waiting,
    Ready,
    Failed,
}

/// <summary>
/// The rollout's decisions, without acting on them: which nodes of a channel a rollout takes on and in
/// which wave, and whether a node being rebuilt is done. The BMC saying "on" proves nothing; a node is
/// done when it attested a boot that started after its rebuild, on the target image, and is Ready.
/// </summary>
public static class RolloutJudge
{
    /// <summary>Whether the rebuild of <paramref name="node"/> towards <paramref name="target"/>, begun at <paramref name="startedAt"/>, is done.</summary>
    public static (RebuildVerdict Verdict, string? Why) Judge(NodeRecord node, ImageRef target, DateTime startedAt, DateTime now, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(target);
        var attestedSince = node.LastBootAt is { } at && Utc(at) >= Utc(startedAt);
        if (node.State == NodeState.Ready && attestedSince)
        {
            return SameImage(node.LastBootedImage, target)
                ? (RebuildVerdict.Ready, null)
                : (RebuildVerdict.Failed, $"Ready on {node.LastBootedImage?.ToString() ?? "no image"}, not on {target}");
        }

        if (node.State is NodeState.Quarantined or NodeState.Decommissioned or NodeState.Replaced)
        {
            return (RebuildVerdict.Failed, $"the node is {node.State}{(node.StateReason is null ? string.Empty : $": {node.StateReason}")}");
        }

        if (Utc(now) - Utc(startedAt) > timeout)
        {
            return (RebuildVerdict.Failed, $"not Ready on {target} after {Seconds(timeout)}: the node is {node.State}{(node.StateReason is null ? string.Empty : $" ({node.StateReason})")}");
        }

        return (RebuildVerdict.Waiting, null);
    }

    /// <summary>
    /// The nodes a rollout of <paramref name="channel"/> rebuilds, in waves of
    /// <paramref name="maxUnavailable"/> by name, and those it leaves alone with the reason.
    /// <paramref name="followsChannel"/> is the boot plan's channel for a node (pin, own channel,
    /// profile or default), <paramref name="hasBmc"/> whether a BMC is recorded.
    /// </summary>
    public static (List<RolloutNode> Nodes, List<RolloutSkip> Skipped) Plan(IEnumerable<NodeRecord> all, string channel, ImageRef target, int maxUnavailable, Func<NodeRecord, string?> followsChannel, Func<NodeRecord, bool> hasBmc)
    {
        ArgumentNullException.ThrowIfNull(all);
        ArgumentNullException.ThrowIfNull(followsChannel);
        ArgumentNullException.ThrowIfNull(hasBmc);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxUnavailable, 1);
        var nodes = new List<RolloutNode>();
        var skipped = new List<RolloutSkip>();
        foreach (var node in all.Where(n => followsChannel(n) == channel).OrderBy(n => n.Name, StringComparer.Ordinal).ThenBy(n => n.Id, StringComparer.Ordinal))
        {
            var why = node.State == NodeState.Ready && SameImage(node.LastBootedImage, target) ? $"already Ready on {target}"
                : !hasBmc(node) ? $"no BMC recorded (kldload nodes bmc set {node.Name} ...); it takes {target} at its next boot"
                : node.State != NodeState.Ready ? $"not Ready (it is {node.State}); it takes {target} at its next boot"
                : null;
            if (why is null)
            {
                nodes.Add(new RolloutNode { NodeId = node.Id, Name = node.Name, Wave = nodes.Count / maxUnavailable, State = RolloutNodeState.Pending });
            }
            else
            {
                skipped.Add(new RolloutSkip { NodeId = node.Id, Name = node.Name, Reason = why });
            }
        }

        return (nodes, skipped);
    }

    /// <summary>The wave to work on: the first with a node not yet done, or null when every wave is done.</summary>
    public static int? CurrentWave(RolloutRecord rollout)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        var open = rollout.Nodes.Where(n => n.State is RolloutNodeState.Pending or RolloutNodeState.Rebuilding or RolloutNodeState.RollingBack).ToList();
        return open.Count == 0 ? null : open.Min(n => n.Wave);
    }

    public static bool SameImage(ImageRef? booted, ImageRef target) =>
        booted is not null && target is not null && booted.Name == target.Name && booted.Version == target.Version;

    /// <summary>LiteDB reads dates back in local time; compare in UTC.</summary>
    public static DateTime Utc(DateTime d) => d.Kind switch
    {
        DateTimeKind.Local => d.ToUniversalTime(),
        DateTimeKind.Unspecified => DateTime.SpecifyKind(d, DateTimeKind.Utc),
        _ => d,
    };

    private static string Seconds(TimeSpan t) => t.TotalSeconds < 120 ? $"{t.TotalSeconds:0} s" : $"{t.TotalMinutes:0.#} min";
}
