using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Tests.Inventory;

public class NodeTransitionsTests
{
    [Theory]
    [InlineData(NodeState.Discovered, NodeState.Enrolling)]
    [InlineData(NodeState.Enrolling, NodeState.Attested)]
    [InlineData(NodeState.Attested, NodeState.Ready)]
    [InlineData(NodeState.Ready, NodeState.Reimaging)]
    [InlineData(NodeState.Reimaging, NodeState.Attested)]
    [InlineData(NodeState.Ready, NodeState.Decommissioned)]
    [InlineData(NodeState.Quarantined, NodeState.Enrolling)]
    public void IsAllowed_LifecycleSteps_AreAllowed(NodeState from, NodeState to) => Assert.True(NodeTransitions.IsAllowed(from, to));

    [Theory]
    [InlineData(NodeState.Discovered, NodeState.Ready)]
    [InlineData(NodeState.Enrolling, NodeState.Ready)]
    [InlineData(NodeState.Quarantined, NodeState.Ready)]
    [InlineData(NodeState.Quarantined, NodeState.Attested)]
    [InlineData(NodeState.Decommissioned, NodeState.Discovered)]
    [InlineData(NodeState.Replaced, NodeState.Ready)]
    public void IsAllowed_Shortcuts_AreRefused(NodeState from, NodeState to) => Assert.False(NodeTransitions.IsAllowed(from, to));

    [Fact]
    public void IsTerminal_OnlyDecommissionedAndReplaced()
        => Assert.Equal([NodeState.Decommissioned, NodeState.Replaced], Enum.GetValues<NodeState>().Where(NodeTransitions.IsTerminal));

    [Theory]
    [InlineData("52:54:00:AA:BB:CC", "52:54:00:aa:bb:cc")]
    [InlineData("52-54-00-aa-bb-cc", "52:54:00:aa:bb:cc")]
    [InlineData("525400aabbcc", "52:54:00:aa:bb:cc")]
    [InlineData("52:54:00:aa:bb", null)]
    [InlineData("zz:54:00:aa:bb:cc", null)]
    [InlineData("", null)]
    public void NormaliseMac_Forms(string input, string? expected) => Assert.Equal(expected, NodeService.NormaliseMac(input));
}
