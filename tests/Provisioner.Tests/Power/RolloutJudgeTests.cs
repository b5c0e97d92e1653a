using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Power;

namespace Kldload.Provisioner.Tests.Power;

/// <summary>The rollout's decisions without a host: waves, who is left alone, when a node is done.</summary>
public sealed class RolloutJudgeTests
{
    private static readonly DateTime Start = new(2026, 12, 7, 5, 0, 0, DateTimeKind.Utc);
    private static readonly ImageRef V2 = new() { Name = "live", Version = "2" };

    private static NodeRecord Node(string name, NodeState state = NodeState.Ready, string version = "1", DateTime? lastBoot = null) => new()
    {
        Id = name + "-id",
        Name = name,
        State = state,
        LastBootedImage = new ImageRef { Name = "live", Version = version },
        LastBootAt = lastBoot,
    };

    [Fact]
    public void Judge_ReadyOnTargetAfterTheStart_Ready()
    {
        var (verdict, why) = RolloutJudge.Judge(Node("a", version: "2", lastBoot: Start.AddSeconds(30)), V2, Start, Start.AddSeconds(31), TimeSpan.FromMinutes(15));
        Assert.Equal(RebuildVerdict.Ready, verdict);
        Assert.Null(why);
    }

    [Fact]
    public void Judge_ReadyFromABootBeforeTheStart_StillWaiting()
    {
        var (verdict, _) = RolloutJudge.Judge(Node("a", version: "2", lastBoot: Start.AddSeconds(-1)), V2, Start, Start.AddSeconds(5), TimeSpan.FromMinutes(15));
        Assert.Equal(RebuildVerdict.Waiting, verdict);
    }

    [Fact]
    public void Judge_LiteDbLocalTimeOfTheSameInstant_ComparedInUtc()
    {
        var local = Start.AddSeconds(2).ToLocalTime();
        var (verdict, _) = RolloutJudge.Judge(Node("a", version: "2", lastBoot: local), V2, Start, Start.AddSeconds(5), TimeSpan.FromMinutes(15));
        Assert.Equal(RebuildVerdict.Ready, verdict);
    }

    [Fact]
    public void Judge_ReadyOnAnotherImage_FailedNamingBoth()
    {
        var (verdict, why) = RolloutJudge.Judge(Node("a", version: "1", lastBoot: Start.AddSeconds(30)), V2, Start, Start.AddSeconds(31), TimeSpan.FromMinutes(15));
        Assert.Equal(RebuildVerdict.Failed, verdict);
        Assert.Equal("Ready on live 1, not on live 2", why);
    }

    [Fact]
    public void Judge_Quarantined_FailedWithTheReason()
    {
        var node = Node("a", NodeState.Quarantined);
        node.StateReason = "firmware-drift: PCR 0 changed";
        var (verdict, why) = RolloutJudge.Judge(node, V2, Start, Start.AddSeconds(3), TimeSpan.FromMinutes(15));
        Assert.Equal(RebuildVerdict.Failed, verdict);
        Assert.Equal("the node is Quarantined: firmware-drift: PCR 0 changed", why);
    }

    [Fact]
    public void Judge_PastTheTimeout_FailedWithTheState()
    {
        var (verdict, why) = RolloutJudge.Judge(Node("a", NodeState.Reimaging), V2, Start, Start.AddSeconds(91), TimeSpan.FromSeconds(90));
        Assert.Equal(RebuildVerdict.Failed, verdict);
        Assert.StartsWith("not Ready on live 2 after 90 s: the node is Reimaging", why, StringComparison.Ordinal);
        Assert.Equal(RebuildVerdict.Waiting, RolloutJudge.Judge(Node("a", NodeState.Reimaging), V2, Start, Start.AddSeconds(89), TimeSpan.FromSeconds(90)).Verdict);
    }

    [Fact]
    public void Plan_FiveNodesTwoAtATime_ThreeWavesByNameAndTheRestLeftAloneWithReasons()
    {
        var nodes = new[]
        {
            Node("e"), Node("a"), Node("d"), Node("c"), Node("b"),
            Node("nobmc"), Node("booting", NodeState.Enrolling), Node("done", version: "2"), Node("other"),
        };

        var (planned, skipped) = RolloutJudge.Plan(nodes, "stable", V2, 2, n => n.Name == "other" ? "canary" : "stable", n => n.Name != "nobmc");

        Assert.Equal(["a", "b", "c", "d", "e"], planned.Select(n => n.Name));
        Assert.Equal([0, 0, 1, 1, 2], planned.Select(n => n.Wave));
        Assert.All(planned, n => Assert.Equal(RolloutNodeState.Pending, n.State));
        Assert.Equal(["booting", "done", "nobmc"], skipped.Select(s => s.Name).Order(StringComparer.Ordinal));
        Assert.Contains("no BMC recorded", skipped.Single(s => s.Name == "nobmc").Reason, StringComparison.Ordinal);
        Assert.Contains("not Ready (it is Enrolling)", skipped.Single(s => s.Name == "booting").Reason, StringComparison.Ordinal);
        Assert.Equal("already Ready on live 2", skipped.Single(s => s.Name == "done").Reason);
    }

    [Fact]
    public void CurrentWave_FirstWaveWithAnOpenNode_NullWhenAllDone()
    {
        var r = new RolloutRecord
        {
            Nodes =
            [
                new RolloutNode { Wave = 0, State = RolloutNodeState.Ready },
                new RolloutNode { Wave = 1, State = RolloutNodeState.Rebuilding },
                new RolloutNode { Wave = 2, State = RolloutNodeState.Pending },
            ],
        };
        Assert.Equal(1, RolloutJudge.CurrentWave(r));
        r.Nodes[1].State = RolloutNodeState.Failed;
        Assert.Equal(2, RolloutJudge.CurrentWave(r));
        r.Nodes[2].State = RolloutNodeState.Ready;
        Assert.Null(RolloutJudge.CurrentWave(r));
    }

    [Fact]
    public void Validate_BadRequest_EveryProblemAtOnce()
    {
        var errors = RolloutService.Validate(new RolloutRequest(null, "promte", null, null, 0, null, null, 0.5));
        Assert.Equal(4, errors.Count);
        Assert.Contains("channel is required", errors);
        Assert.Contains("action 'promte': use promote or rollback", errors);
        Assert.Contains(errors, e => e.StartsWith("maxUnavailable 0", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("timeoutSeconds 0.5", StringComparison.Ordinal));
        Assert.Contains("promote needs name and version", RolloutService.Validate(new RolloutRequest("stable", "promote", "live", null, null, null, null, null)));
        Assert.Empty(RolloutService.Validate(new RolloutRequest("stable", "rollback", null, null, 3, true, true, 60)));
    }
}
