namespace Kldload.Provisioner.Inventory;

/// <summary>The steps of one network boot, in the order a node takes them (the order of the waterfall's rows).</summary>
public enum BootStepKind
{
    /// <summary>The firmware's DHCP boot request (Full or Proxy mode only).</summary>
    Dhcp,

    /// <summary>A TFTP transfer ended (iPXE, shim, GRUB, its configuration).</summary>
    Tftp,

    /// <summary>kldload served the boot script (iPXE script or GRUB configuration) with a boot token.</summary>
    Script,

    /// <summary>The kernel was sent over HTTP.</summary>
    Kernel,

    /// <summary>The initrd was sent over HTTP.</summary>
    Initrd,

    /// <summary>Another image file (a root file system, or a digest this boot's image does not name).</summary>
    Image,

    /// <summary>The agent in the initrd asked for an attestation challenge.</summary>
    Challenge,

    /// <summary>The TPM quote was checked and a credential issued.</summary>
    Quote,

    /// <summary>The TPM proved it holds the EK: the node is Attested (or was held: Enrolling, Quarantined).</summary>
    Activate,

    /// <summary>The node reported itself on the mesh.</summary>
    Ready,
}

/// <summary>
/// One bar of the waterfall. A step is recorded when kldload sees it end (a transfer sent, a quote
/// checked), so its bar runs from the end of the step before it in the same boot to its own event:
/// the time the node spent getting there. The boot's first step is a mark of no length.
/// </summary>
public sealed record BootStep(BootStepKind Step, DateTime Start, DateTime End, string Message, bool Failed)
{
    public double Seconds => Math.Round((End - Start).TotalSeconds, 3);
}

/// <summary>How a boot ended, as far as the history shows.</summary>
public enum BootOutcome
{
    /// <summary>The node reached Ready.</summary>
    Ready,

    /// <summary>The last step was refused or held (attestation refused, Enrolling, Quarantined, a failed transfer).</summary>
    Stopped,

    /// <summary>Neither: still running, or the node went quiet.</summary>
    Incomplete,
}

/// <summary>One boot of a node: its steps, oldest first.</summary>
public sealed record BootTimeline(DateTime Start, DateTime End, BootOutcome Outcome, IReadOnlyList<BootStep> Steps)
{
    public double Seconds => Math.Round((End - Start).TotalSeconds, 3);
}

/// <summary>The kernel and initrd digests (lower-case hex) of an image, to tell which file an image fetch was.</summary>
public sealed record BootImageDigests(string Kernel, string Initrd);

/// <summary>
/// Cuts a node's history into boots and each boot into timed steps (issue 23's boot waterfall). Pure:
/// no store, no clock. The history already holds every step (<see cref="DhcpBootRecorder"/>,
/// <see cref="BootStepRecorder"/>, the boot script, attestation); this only reads it.
/// </summary>
public static class BootWaterfall
{
    /// <summary>A step this long after the previous one starts a new boot whatever its kind.</summary>
    public static readonly TimeSpan Gap = TimeSpan.FromMinutes(30);

    /// <summary>
    /// The boots in <paramref name="events"/>, newest first. A boot starts at a DHCP boot request, or
    /// at a TFTP transfer or boot script that comes after the previous boot reached its kernel; attestation
    /// retries (a challenge after an activation held the node) stay in their boot as extra bars.
    /// </summary>
    /// <param name="events">A node's history in any order.</param>
    /// <param name="imageOf">The digests of an image by name and version (from the boot script's event), or null when unknown.</param>
    public static IReadOnlyList<BootTimeline> Build(IEnumerable<NodeEvent> events, Func<string, string, BootImageDigests?> imageOf)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(imageOf);
        var boots = new List<BootTimeline>();
        var steps = new List<BootStep>();
        BootImageDigests? image = null;
        var furthest = -1;
        foreach (var e in events.OrderBy(e => e.Id))
        {
            if (Classify(e, image) is not (BootStepKind kind, bool failed))
            {
                continue;
            }

            var last = steps.Count > 0 ? steps[^1].End : (DateTime?)null;
            var newBoot = last is null
                || e.At - last.Value > Gap
                || (kind == BootStepKind.Dhcp && furthest > (int)BootStepKind.Dhcp)
                || (kind is BootStepKind.Tftp or BootStepKind.Script && furthest >= (int)BootStepKind.Kernel);
            if (newBoot)
            {
                Close(boots, steps);
                steps = [];
                image = null;
                furthest = -1;
            }

            if (kind == BootStepKind.Script && ImageOfScript(e.Message) is var (name, version))
            {
                image = imageOf(name, version);
            }

            var at = Utc(e.At);
            steps.Add(new BootStep(kind, steps.Count > 0 ? steps[^1].End : at, at, e.Message, failed));
            furthest = Math.Max(furthest, (int)kind);
        }

        Close(boots, steps);
        boots.Reverse();
        return boots;
    }

    /// <summary>Which step an event is, and whether it failed; null for an event that is no boot step (operator actions, hardware, power).</summary>
    internal static (BootStepKind Kind, bool Failed)? Classify(NodeEvent e, BootImageDigests? image)
    {
        ArgumentNullException.ThrowIfNull(e);
        var m = e.Message;
        switch (e.Kind)
        {
            case NodeEventKind.Dhcp when m.Contains("boot request", StringComparison.Ordinal):
                return (BootStepKind.Dhcp, false);
            case NodeEventKind.Tftp:
                // GRUB's TFTP path reads images/DIGEST: a kernel or initrd by another road.
                return FileOf(m, image) is { } file and not BootStepKind.Image
                    ? (file, m.Contains("not completed", StringComparison.Ordinal))
                    : (BootStepKind.Tftp, m.Contains("not completed", StringComparison.Ordinal));
            case NodeEventKind.Script when m.StartsWith("script: ", StringComparison.Ordinal):
                return (BootStepKind.Script, false);
            case NodeEventKind.Script when m.StartsWith("no image: ", StringComparison.Ordinal):
                return (BootStepKind.Script, true);
            case NodeEventKind.ImageFetch:
                return (FileOf(m, image) ?? BootStepKind.Image, false);
            case NodeEventKind.Attestation when m.StartsWith("attestation challenge issued", StringComparison.Ordinal):
                return (BootStepKind.Challenge, false);
            case NodeEventKind.Attestation when m.StartsWith("quote checked", StringComparison.Ordinal):
                return (BootStepKind.Quote, false);
            case NodeEventKind.Attestation when m.StartsWith("attestation ", StringComparison.Ordinal) && m.Contains(" refused", StringComparison.Ordinal):
                return (RefusedStep(m), true);
            case NodeEventKind.StateChange when e.Actor == "node":
                return e.Reason switch
                {
                    nameof(NodeState.Attested) => (BootStepKind.Activate, false),
                    nameof(NodeState.Ready) => (BootStepKind.Ready, false),
                    nameof(NodeState.Enrolling) or nameof(NodeState.Quarantined) => (BootStepKind.Activate, true),
                    _ => null,
                };
            default:
                return null;
        }
    }

    /// <summary>"attestation quote refused (...)": the step named after "attestation ".</summary>
    private static BootStepKind RefusedStep(string message)
    {
        var word = message["attestation ".Length..].Split(' ', 2)[0];
        return word switch
        {
            "challenge" => BootStepKind.Challenge,
            "quote" => BootStepKind.Quote,
            "ready" => BootStepKind.Ready,
            _ => BootStepKind.Activate,
        };
    }

    /// <summary>Kernel or initrd by the path's last part (a file name, or a digest this boot's image names); Image for another digest; null when no image path.</summary>
    private static BootStepKind? FileOf(string message, BootImageDigests? image)
    {
        var at = message.IndexOf("images/", StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var path = message[(at + "images/".Length)..].Split(' ', 2)[0];
        var last = path[(path.LastIndexOf('/') + 1)..];
        if (last == "kernel" || (image is not null && last.Equals(image.Kernel, StringComparison.OrdinalIgnoreCase)))
        {
            return BootStepKind.Kernel;
        }

        return last == "initrd" || (image is not null && last.Equals(image.Initrd, StringComparison.OrdinalIgnoreCase))
            ? BootStepKind.Initrd
            : BootStepKind.Image;
    }

    /// <summary>The image a boot script event names: "script: NAME VERSION (why)".</summary>
    private static (string Name, string Version)? ImageOfScript(string message)
    {
        var words = message.Split(' ', 4);
        return words.Length >= 3 && words[0] == "script:" ? (words[1], words[2]) : null;
    }

    private static void Close(List<BootTimeline> boots, List<BootStep> steps)
    {
        if (steps.Count == 0)
        {
            return;
        }

        var outcome = steps.Any(s => s.Step == BootStepKind.Ready && !s.Failed) ? BootOutcome.Ready
            : steps[^1].Failed ? BootOutcome.Stopped
            : BootOutcome.Incomplete;
        boots.Add(new BootTimeline(steps[0].Start, steps[^1].End, outcome, steps));
    }

    private static DateTime Utc(DateTime t) => t.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : t.ToUniversalTime();
}
