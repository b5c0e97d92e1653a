using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Power;
using Spectre.Console;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// Fleet rollouts from the command line: <c>kldload image promote NAME VERSION --channel C --rollout</c>
/// and <c>kldload image rollback --channel C --rollout</c> ask the running server to start one and
/// follow it until it ends (exit 0 when every node is Ready on the new image, 1 when it stopped);
/// <c>kldload image rollout list|show|cancel|resume</c>. The rollout runs in the server: stopping
/// the CLI (or <c>--detach</c>) leaves it running.
/// </summary>
internal static class RolloutCommands
{
    /// <summary>The options <c>promote</c> and <c>rollback</c> take for <c>--rollout</c>.</summary>
    internal sealed class Options
    {
        public Option<bool> Rollout { get; } = new("--rollout") { Description = "Then rebuild the channel's nodes that have a BMC, in waves, each proven Ready (attested) on the new image before the next (runs in the server)." };

        public Option<int> MaxUnavailable { get; } = new("--max-unavailable") { Description = "With --rollout: nodes rebuilt at a time (a wave).", DefaultValueFactory = _ => 1 };

        public Option<bool> PauseOnFailure { get; } = new("--pause-on-failure") { Description = "With --rollout: a failed node pauses the rollout (resume with 'kldload image rollout resume ID') instead of stopping it." };

        public Option<bool> AutoRollback { get; } = new("--auto-rollback") { Description = "With --rollout: a failed node is pinned to the previous version and rebuilt again." };

        public Option<string> Timeout { get; } = new("--timeout") { Description = "With --rollout: how long each node has to come back Ready: 90s, 15m, 1h.", DefaultValueFactory = _ => "15m" };

        public Option<bool> Detach { get; } = new("--detach") { Description = "With --rollout: start it and return; follow it with 'kldload image rollout show ID'." };

        public Option<string?> Server { get; } = new("--server") { Description = "Admin URL of the running kldload (default: the one it published in the data directory)." };

        public void AddTo(Command command)
        {
            command.Options.Add(Rollout);
            command.Options.Add(MaxUnavailable);
            command.Options.Add(PauseOnFailure);
            command.Options.Add(AutoRollback);
            command.Options.Add(Timeout);
            command.Options.Add(Detach);
            command.Options.Add(Server);
        }

        /// <summary>A usage error when a rollout option is given without --rollout, or a value is bad; null when fine.</summary>
        public string? Check(ParseResult p, out TimeSpan timeout)
        {
            ArgumentNullException.ThrowIfNull(p);
            timeout = default;
            if (!p.GetValue(Rollout))
            {
                var stray = new Option[] { MaxUnavailable, PauseOnFailure, AutoRollback, Timeout, Detach }.FirstOrDefault(o => p.GetResult(o) is { Implicit: false });
                return stray is null ? null : $"{stray.Name} needs --rollout";
            }

            if (!RebuildCommand.TryParseDuration(p.GetValue(Timeout)!, out timeout))
            {
                return $"--timeout '{p.GetValue(Timeout)}': use a number with s, m or h (90s, 15m, 1h)";
            }

            return p.GetValue(MaxUnavailable) < 1 ? "--max-unavailable: at least 1" : null;
        }
    }

    /// <summary>Starts a rollout through the server and (unless detached) follows it to its end.</summary>
    public static Task<int> StartAsync(ParseResult p, Options o, string action, string channel, string? name, string? version, TimeSpan timeout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(o);
        var request = new RolloutRequest(channel, action, name, version, p.GetValue(o.MaxUnavailable), p.GetValue(o.PauseOnFailure), p.GetValue(o.AutoRollback), timeout.TotalSeconds);
        return NodeCommands.Run(p, o.Server, ct, async c =>
        {
            var started = await c.PostAsync<RolloutView>("api/v1/rollouts", request, ct).ConfigureAwait(false);
            Console.WriteLine($"rollout {started.Id}: channel {started.Channel} {started.Previous ?? "(new)"} -> {started.Target}; {started.Total} node(s) in {started.Waves} wave(s) of {started.MaxUnavailable}");
            foreach (var s in started.Skipped)
            {
                Console.WriteLine($"  left alone: {s.Name}: {s.Reason}");
            }

            return p.GetValue(o.Detach) ? ExitCodes.Ok : await FollowAsync(c, started, ct).ConfigureAwait(false);
        });
    }

    /// <summary><c>kldload image rollout list|show|cancel|resume</c>.</summary>
    public static Command Create()
    {
        var server = new Option<string?>("--server") { Description = "Admin URL of the running kldload." };
        var json = new Option<bool>("--json") { Description = "JSON output." };
        var rollout = new Command("rollout", "Fleet rollouts: list, show (and follow), cancel, resume.");

        var list = new Command("list", "Rollouts, newest first.") { server, json };
        list.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var all = await c.GetAsync<List<RolloutView>>("api/v1/rollouts", ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                NodeCommands.Json(all);
                return ExitCodes.Ok;
            }

            Console.WriteLine($"{"ID",-9} {"CHANNEL",-12} {"TARGET",-24} {"STATE",-10} {"READY",-7} {"FAILED",-6} CREATED");
            foreach (var r in all)
            {
                Console.WriteLine($"{r.Id,-9} {r.Channel,-12} {r.Target,-24} {r.State,-10} {$"{r.Ready}/{r.Total}",-7} {r.Failed,-6} {r.CreatedAt.ToString("u", CultureInfo.InvariantCulture)}");
            }

            return ExitCodes.Ok;
        }));

        var id = new Argument<string>("id") { Description = "Rollout id." };
        var follow = new Option<bool>("--follow") { Description = "Follow it until it ends (exit 0 when completed)." };
        var show = new Command("show", "A rollout, node by node.") { id, follow, server, json };
        show.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var r = await c.GetAsync<RolloutView>($"api/v1/rollouts/{Uri.EscapeDataString(p.GetValue(id)!)}", ct).ConfigureAwait(false);
            if (p.GetValue(follow))
            {
                return await FollowAsync(c, r, ct).ConfigureAwait(false);
            }

            if (p.GetValue(json))
            {
                NodeCommands.Json(r);
            }
            else
            {
                Print(r);
            }

            return ExitCodes.Ok;
        }));

        rollout.Subcommands.Add(list);
        rollout.Subcommands.Add(show);
        rollout.Subcommands.Add(Change("cancel", "Stop a rollout: nothing more is started.", server));
        rollout.Subcommands.Add(Change("resume", "Go on with a paused rollout (its failed nodes stay failed).", server));
        return rollout;
    }

    private static Command Change(string verb, string description, Option<string?> server)
    {
        var id = new Argument<string>("id") { Description = "Rollout id." };
        var c = new Command(verb, description) { id, server };
        c.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async client =>
        {
            var r = await client.PostAsync<RolloutView>($"api/v1/rollouts/{Uri.EscapeDataString(p.GetValue(id)!)}/{verb}", new { }, ct).ConfigureAwait(false);
            Console.WriteLine($"rollout {r.Id}: {r.State}{(r.Reason is null ? string.Empty : ": " + r.Reason)}");
            return ExitCodes.Ok;
        }));
        return c;
    }

    private static void Print(RolloutView r)
    {
        Console.WriteLine($"rollout {r.Id}: channel {r.Channel} {r.Action} {r.Previous ?? "(new)"} -> {r.Target}, by {r.By}");
        Console.WriteLine($"state     {r.State}{(r.Reason is null ? string.Empty : ": " + r.Reason)}");
        Console.WriteLine($"progress  {r.Ready}/{r.Total} Ready, {r.Rebuilding} rebuilding, {r.Failed} failed, {r.Pending} pending; wave {(r.CurrentWave is { } w ? w + 1 : r.Waves)}/{r.Waves} of {r.MaxUnavailable}");
        Console.WriteLine($"options   timeout {r.NodeTimeoutSeconds:0} s per node{(r.PauseOnFailure ? ", pause on failure" : string.Empty)}{(r.AutoRollback ? ", auto-rollback" : string.Empty)}");
        foreach (var n in r.Nodes)
        {
            Console.WriteLine($"  wave {n.Wave + 1} {n.Name,-16} {n.State,-11}{(n.BootToMeshSeconds is { } s && n.State is "Ready" or "RolledBack" ? $" boot to mesh {s:0.0} s" : string.Empty)}{(n.Reason is null ? string.Empty : " " + n.Reason)}");
        }

        foreach (var s in r.Skipped)
        {
            Console.WriteLine($"  left alone {s.Name}: {s.Reason}");
        }
    }

    /// <summary>Prints each node's change until the rollout is no longer running; exit 0 only when it completed.</summary>
    private static async Task<int> FollowAsync(AdminClient c, RolloutView r, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var plain = Console.IsOutputRedirected;
        var seen = new Dictionary<string, string>();
        void Changes(RolloutView v)
        {
            foreach (var n in v.Nodes)
            {
                var line = $"{n.State}{(n.Reason is null ? string.Empty : ": " + n.Reason)}";
                if (seen.TryGetValue(n.NodeId, out var old) && old == line)
                {
                    continue;
                }

                seen[n.NodeId] = line;
                if (n.State == "Pending")
                {
                    continue;
                }

                var text = $"{clock.Elapsed.TotalSeconds,6:0.0}s wave {n.Wave + 1}/{v.Waves} {n.Name}: {line}{(n.State is "Ready" or "RolledBack" && n.BootToMeshSeconds is { } s ? $" (boot to mesh {s:0.0} s)" : string.Empty)}";
                if (plain)
                {
                    Console.WriteLine(text);
                }
                else
                {
                    AnsiConsole.MarkupLine(Markup.Escape(text));
                }
            }
        }

        async Task<RolloutView> PollAsync(Action<string>? status)
        {
            var v = r;
            while (true)
            {
                Changes(v);
                status?.Invoke($"rollout {v.Id}: {v.Ready}/{v.Total} Ready, {v.Rebuilding} rebuilding, wave {(v.CurrentWave is { } w ? w + 1 : v.Waves)}/{v.Waves}");
                if (v.State != nameof(RolloutState.Running))
                {
                    return v;
                }

                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                v = await c.GetAsync<RolloutView>($"api/v1/rollouts/{r.Id}", ct).ConfigureAwait(false);
            }
        }

        var final = plain
            ? await PollAsync(null).ConfigureAwait(false)
            : await AnsiConsole.Status().StartAsync($"rollout {r.Id}", ctx => PollAsync(s => ctx.Status(Markup.Escape(s)))).ConfigureAwait(false);
        if (final.State == nameof(RolloutState.Completed))
        {
            Console.WriteLine($"rollout {final.Id}: Completed: {final.Reason}; {clock.Elapsed.TotalSeconds:0.0} s");
            return ExitCodes.Ok;
        }

        await Console.Error.WriteLineAsync($"kldload: rollout {final.Id} {final.State.ToLowerInvariant()}: {final.Reason}").ConfigureAwait(false);
        foreach (var n in final.Nodes.Where(n => n.State is "Failed" or "RolledBack"))
        {
            await Console.Error.WriteLineAsync($"  {n.Name}: {n.State}: {n.Reason}").ConfigureAwait(false);
        }

        return ExitCodes.Failed;
    }
}
