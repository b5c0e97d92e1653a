using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Inventory;
using Spectre.Console;

namespace Kldload.Provisioner.Cli;

/// <summary>Where a rebuild stands, judged from the node and the events since the rebuild began.</summary>
internal enum RebuildOutcome
{
    Waiting,
    Ready,
    Refused,
}

/// <summary>
/// <c>kldload nodes rebuild NODE [--channel C | --version V] [--timeout 15m]</c>: assigns the image,
/// sets the next boot to the network, power-cycles through the BMC, then follows the node's history and
/// returns when the node has attested the new boot and is Ready (exit 0, with the boot-to-mesh time),
/// or at the timeout or a refusal (exit 1, with the last steps seen). The BMC saying "on" proves
/// nothing; the attestation of the new boot does.
/// </summary>
internal static class RebuildCommand
{
    public static Command Create(Option<string?> server, Option<bool> json)
    {
        var node = new Argument<string>("node") { Description = "Node id, name, MAC or UUID." };
        var channel = new Option<string?>("--channel") { Description = "Rebuild on this channel's image (the node follows the channel from now on)." };
        var version = new Option<string?>("--version") { Description = "Rebuild on this version of the node's image (pinned)." };
        var timeout = new Option<string>("--timeout") { Description = "Give up after this long: 90s, 15m, 1h.", DefaultValueFactory = _ => "15m" };
        var rebuild = new Command("rebuild", "Reimage, one-time network boot and power-cycle through the BMC, then wait until the node attests the new boot and is Ready.") { node, channel, version, timeout };
        rebuild.SetAction(async (p, ct) =>
        {
            var stderr = p.InvocationConfiguration.Error;
            if (!TryParseDuration(p.GetValue(timeout)!, out var limit))
            {
                await stderr.WriteLineAsync($"kldload: --timeout '{p.GetValue(timeout)}': use a number with s, m or h (90s, 15m, 1h)").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            if (p.GetValue(channel) is not null && p.GetValue(version) is not null)
            {
                await stderr.WriteLineAsync("kldload: give --channel or --version, not both").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            return await NodeCommands.Run(p, server, ct, c => RunAsync(c, p.GetValue(node)!, p.GetValue(channel), p.GetValue(version), limit, p.GetValue(json), stderr, ct)).ConfigureAwait(false);
        });
        return rebuild;
    }

    /// <summary>Decides, from the node now and the events since the rebuild began, whether it is done.</summary>
    internal static (RebuildOutcome Outcome, string? Why) Judge(NodeView node, IReadOnlyList<NodeEventView> since)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(since);
        var ready = since.Any(e => e.Kind == NodeEventKind.StateChange && e.Reason == nameof(NodeState.Ready));
        if (ready && node.State == NodeState.Ready)
        {
            return (RebuildOutcome.Ready, null);
        }

        if (node.State is NodeState.Quarantined or NodeState.Decommissioned or NodeState.Replaced)
        {
            return (RebuildOutcome.Refused, $"the node is {node.State}{(node.StateReason is null ? string.Empty : $": {node.StateReason}")}");
        }

        var failedPower = since.LastOrDefault(e => e.Kind == NodeEventKind.Power && e.Reason?.StartsWith("bmc-", StringComparison.Ordinal) == true && e.Reason != "bmc-set");
        return failedPower is not null ? (RebuildOutcome.Refused, failedPower.Message) : (RebuildOutcome.Waiting, null);
    }

    internal static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        if (text.Length < 2 || !double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n <= 0)
        {
            return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out duration) && duration > TimeSpan.Zero;
        }

        duration = text[^1] switch
        {
            's' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            _ => TimeSpan.Zero,
        };
        return duration > TimeSpan.Zero;
    }

    private static async Task<int> RunAsync(AdminClient c, string key, string? channel, string? version, TimeSpan limit, bool json, TextWriter stderr, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var path = $"api/v1/nodes/{Uri.EscapeDataString(key)}";
        var node = await c.GetAsync<NodeView>(path, ct).ConfigureAwait(false);
        var before = await c.GetAsync<List<NodeEventView>>($"{path}/events", ct).ConfigureAwait(false);
        var startId = before.Count == 0 ? 0 : before.Max(e => e.Id);

        ReimageRequest reimage;
        if (version is not null)
        {
            var name = (node.PinnedImage ?? node.LastBootedImage)?.Split(' ')[0];
            if (name is null)
            {
                await stderr.WriteLineAsync($"kldload: node {node.Id} has booted no image yet: give --channel, or pin with `kldload nodes reimage {node.Id} --image NAME:VERSION`").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            reimage = new ReimageRequest(null, name, version);
        }
        else if (channel is not null || node.PinnedImage is null)
        {
            channel ??= node.Channel;
            if (channel is null)
            {
                await stderr.WriteLineAsync($"kldload: node {node.Id} follows no channel of its own: give --channel or --version").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            reimage = new ReimageRequest(channel, null, null);
        }
        else
        {
            var pinned = node.PinnedImage.Split(' ', 2);
            reimage = new ReimageRequest(null, pinned[0], pinned[1]);
        }

        var target = reimage.Channel is { } ch ? $"channel {ch}" : $"{reimage.ImageName} {reimage.ImageVersion}";
        var plain = json || Console.IsOutputRedirected;
        void Step(string text)
        {
            if (plain)
            {
                Console.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.0}s {text}");
            }
            else
            {
                AnsiConsole.MarkupLine($"[grey]{clock.Elapsed.TotalSeconds,6:0.0}s[/] {Markup.Escape(text)}");
            }
        }

        await c.PostAsync<NodeView>($"{path}/reimage", reimage, ct).ConfigureAwait(false);
        Step($"{node.Id} {node.Name}: reimage with {target}");
        await c.PostAsync<PowerView>($"{path}/power", new PowerRequest("pxe"), ct).ConfigureAwait(false);
        Step("next boot from the network, once");
        var cycled = await c.PostAsync<PowerView>($"{path}/power", new PowerRequest("cycle"), ct).ConfigureAwait(false);
        Step($"power cycle sent; power {cycled.PowerState}");

        var seen = new List<NodeEventView>();
        async Task<(RebuildOutcome, string?, NodeView)> PollAsync()
        {
            var deadline = clock.Elapsed + limit;
            while (true)
            {
                var events = await c.GetAsync<List<NodeEventView>>($"{path}/events", ct).ConfigureAwait(false);
                foreach (var e in events.Where(e => e.Id > startId && seen.All(s => s.Id != e.Id)).OrderBy(e => e.Id))
                {
                    seen.Add(e);
                    Step($"{e.Kind}: {e.Message}");
                }

                var now = await c.GetAsync<NodeView>(path, ct).ConfigureAwait(false);
                var (outcome, why) = Judge(now, seen);
                if (outcome != RebuildOutcome.Waiting || clock.Elapsed >= deadline)
                {
                    return (outcome, why, now);
                }

                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            }
        }

        var (result, reason, final) = plain
            ? await PollAsync().ConfigureAwait(false)
            : await AnsiConsole.Status().StartAsync($"waiting for {node.Name} to attest its new boot", _ => PollAsync()).ConfigureAwait(false);

        if (json)
        {
            NodeCommands.Json(new { node = final.Id, outcome = result.ToString(), reason, seconds = clock.Elapsed.TotalSeconds, final.LastBootedImage, final.LastBootToMeshSeconds, steps = seen });
            return result == RebuildOutcome.Ready ? ExitCodes.Ok : ExitCodes.Failed;
        }

        if (result == RebuildOutcome.Ready)
        {
            if (version is not null && final.LastBootedImage?.EndsWith(" " + version, StringComparison.Ordinal) != true)
            {
                await stderr.WriteLineAsync($"kldload: {final.Id} is Ready but booted {final.LastBootedImage}, not version {version}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }

            Console.WriteLine($"{final.Id} {final.Name}: Ready on {final.LastBootedImage}; boot to mesh {final.LastBootToMeshSeconds:0.0} s; command to Ready {clock.Elapsed.TotalSeconds:0.0} s");
            return ExitCodes.Ok;
        }

        await stderr.WriteLineAsync(result == RebuildOutcome.Refused
            ? $"kldload: rebuild of {final.Id} refused: {reason}"
            : $"kldload: rebuild of {final.Id} timed out after {limit}: the node is {final.State}, not Ready on its new boot").ConfigureAwait(false);
        await stderr.WriteLineAsync("last steps seen:").ConfigureAwait(false);
        foreach (var e in seen.TakeLast(8))
        {
            await stderr.WriteLineAsync($"  {e.At:u} {e.Kind}: {e.Message}").ConfigureAwait(false);
        }

        if (seen.Count == 0)
        {
            await stderr.WriteLineAsync("  (none: the node did not boot; is it wired to this BMC, and does it boot from the network?)").ConfigureAwait(false);
        }

        return ExitCodes.Failed;
    }
}
