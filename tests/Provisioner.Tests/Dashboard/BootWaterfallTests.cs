using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Tests.Dashboard;

/// <summary>Cutting a node's history into boots and timed steps, as the events are written today.</summary>
public sealed class BootWaterfallTests
{
    private static readonly DateTime T0 = new(2026, 12, 7, 10, 0, 0, DateTimeKind.Utc);
    private static readonly BootImageDigests Live1 = new(new string('a', 64), new string('b', 64));

    private readonly List<NodeEvent> _events = [];

    private void Add(double seconds, NodeEventKind kind, string message, string actor = "node", string? reason = null) =>
        _events.Add(new NodeEvent { Id = _events.Count + 1, NodeId = "n1", At = T0.AddSeconds(seconds), Kind = kind, Message = message, Actor = actor, Reason = reason });

    private static BootImageDigests? Images(string name, string version) => name == "live" && version == "1" ? Live1 : null;

    /// <summary>One whole boot as the recorders write it (DHCP, TFTP, script, two image fetches, attestation, ready).</summary>
    private void AddBoot(double start)
    {
        Add(start, NodeEventKind.Dhcp, "DHCP: firmware PXE boot request (arch EfiX64) -> ipxe.efi");
        Add(start + 0.5, NodeEventKind.Tftp, "TFTP: ipxe.efi sent, 1024000 bytes in 0.40 s (blksize 1468, windowsize 8)");
        Add(start + 2, NodeEventKind.Script, "boot.ipxe requested (efi, x86_64) from 10.0.0.5");
        Add(start + 2, NodeEventKind.Script, "script: live 1 (channel stable)");
        Add(start + 5, NodeEventKind.ImageFetch, $"image fetch: /images/{Live1.Kernel} (9000000 bytes)");
        Add(start + 9, NodeEventKind.ImageFetch, $"image fetch: /images/{Live1.Initrd} (40000000 bytes)");
        Add(start + 20, NodeEventKind.Attestation, "attestation challenge issued (session 1234abcd, from 10.0.0.5)");
        Add(start + 21, NodeEventKind.Attestation, "quote checked (EK 0123456789abcdef, kernel measured, Secure Boot off); credential issued");
        Add(start + 21.5, NodeEventKind.StateChange, "Discovered -> Attested: credential activated", reason: "Attested");
        Add(start + 25, NodeEventKind.StateChange, "Attested -> Ready: on the mesh", reason: "Ready");
    }

    [Fact]
    public void Build_WholeBoot_EveryStepInOrderWithTheTimeSinceTheStepBefore()
    {
        AddBoot(0);

        var boot = Assert.Single(BootWaterfall.Build(_events, Images));

        Assert.Equal(
            [BootStepKind.Dhcp, BootStepKind.Tftp, BootStepKind.Script, BootStepKind.Kernel, BootStepKind.Initrd, BootStepKind.Challenge, BootStepKind.Quote, BootStepKind.Activate, BootStepKind.Ready],
            boot.Steps.Select(s => s.Step).ToArray());
        Assert.Equal([0, 0.5, 1.5, 3, 4, 11, 1, 0.5, 3.5], boot.Steps.Select(s => s.Seconds).ToArray());
        Assert.Equal(25, boot.Seconds);
        Assert.Equal(BootOutcome.Ready, boot.Outcome);
        Assert.Equal(T0, boot.Start);
        Assert.All(boot.Steps.Zip(boot.Steps.Skip(1)), pair => Assert.Equal(pair.First.End, pair.Second.Start));
    }

    [Fact]
    public void Build_TwoBoots_NewestFirstAndOperatorEventsLeftOut()
    {
        AddBoot(0);
        Add(100, NodeEventKind.Operator, "reimage with channel stable", actor: "alice");
        Add(101, NodeEventKind.StateChange, "Ready -> Reimaging", actor: "alice", reason: "Reimaging");
        AddBoot(200);

        var boots = BootWaterfall.Build(_events, Images);

        Assert.Equal(2, boots.Count);
        Assert.Equal(T0.AddSeconds(200), boots[0].Start);
        Assert.Equal(T0, boots[1].Start);
        Assert.All(boots, b => Assert.Equal(9, b.Steps.Count));
    }

    [Fact]
    public void Build_NoDhcp_AScriptAfterAnAttestationStartsTheNextBoot()
    {
        // Proxy-less test benches and HTTP boot: the first step kldload sees is the script.
        Add(0, NodeEventKind.Script, "script: live 1 (channel stable)");
        Add(3, NodeEventKind.ImageFetch, "image fetch: /images/live/1/kernel (10 bytes)");
        Add(4, NodeEventKind.Attestation, "attestation challenge issued (session 1)");
        Add(60, NodeEventKind.Script, "script: live 1 (channel stable)");

        var boots = BootWaterfall.Build(_events, Images);

        Assert.Equal(2, boots.Count);
        Assert.Equal([BootStepKind.Script], boots[0].Steps.Select(s => s.Step).ToArray());
        Assert.Equal([BootStepKind.Script, BootStepKind.Kernel, BootStepKind.Challenge], boots[1].Steps.Select(s => s.Step).ToArray());
        Assert.Equal(BootOutcome.Incomplete, boots[1].Outcome);
    }

    [Fact]
    public void Build_HeldForApprovalThenRetried_OneBootEndingReadyWithTheHoldMarkedFailed()
    {
        Add(0, NodeEventKind.Script, "script: live 1 (channel stable)");
        Add(5, NodeEventKind.Attestation, "attestation challenge issued (session 1)");
        Add(6, NodeEventKind.Attestation, "quote checked (EK 01)");
        Add(7, NodeEventKind.StateChange, "Discovered -> Enrolling: waiting for an operator", reason: "Enrolling");
        Add(8, NodeEventKind.Operator, "EK and firmware approved", actor: "alice");
        Add(30, NodeEventKind.Attestation, "attestation challenge issued (session 2)");
        Add(31, NodeEventKind.Attestation, "quote checked (EK 01)");
        Add(32, NodeEventKind.StateChange, "Enrolling -> Attested", reason: "Attested");
        Add(33, NodeEventKind.StateChange, "Attested -> Ready", reason: "Ready");

        var boot = Assert.Single(BootWaterfall.Build(_events, Images));

        Assert.Equal(BootOutcome.Ready, boot.Outcome);
        var held = boot.Steps[3];
        Assert.Equal(BootStepKind.Activate, held.Step);
        Assert.True(held.Failed);
        Assert.Equal(23, boot.Steps[4].Seconds); // the wait for the operator, visible as the second challenge's bar
    }

    [Fact]
    public void Build_RefusedQuote_StoppedAtAFailedQuote()
    {
        Add(0, NodeEventKind.Script, "script: live 1 (channel stable)");
        Add(5, NodeEventKind.Attestation, "attestation challenge issued (session 1)");
        Add(6, NodeEventKind.Attestation, "attestation quote refused (from 10.0.0.5, session 12345678): PCR 7 differs", reason: "firmware-drift");

        var boot = Assert.Single(BootWaterfall.Build(_events, Images));

        Assert.Equal(BootOutcome.Stopped, boot.Outcome);
        Assert.Equal(BootStepKind.Quote, boot.Steps[^1].Step);
        Assert.True(boot.Steps[^1].Failed);
    }

    [Fact]
    public void Build_UnknownDigest_AnImageStepAndALongGapSplits()
    {
        Add(0, NodeEventKind.Script, "script: other 9 (channel x)");
        Add(1, NodeEventKind.ImageFetch, $"image fetch: /images/{Live1.Kernel} (10 bytes)");
        Add(1 + BootWaterfall.Gap.TotalSeconds + 1, NodeEventKind.ImageFetch, $"image fetch: /images/{Live1.Kernel} (10 bytes)");

        var boots = BootWaterfall.Build(_events, Images);

        Assert.Equal(2, boots.Count);
        Assert.Equal([BootStepKind.Script, BootStepKind.Image], boots[1].Steps.Select(s => s.Step).ToArray());
    }

    [Fact]
    public void Build_NoBootSteps_NoBoots()
    {
        Add(0, NodeEventKind.StateChange, "first seen (52:54:00:00:00:01)", reason: "Discovered");
        Add(1, NodeEventKind.Power, "power on", actor: "alice");

        Assert.Empty(BootWaterfall.Build(_events, Images));
    }
}
