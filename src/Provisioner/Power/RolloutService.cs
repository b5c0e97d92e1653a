using Kldload.Bmc;
using Kldload.ImageStore;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Power;

/// <summary>
/// What a rollout is asked to do: move <c>Channel</c> (<c>Action</c> <c>promote</c> to <c>Name</c>
/// <c>Version</c>, or <c>rollback</c>), then rebuild its nodes <c>MaxUnavailable</c> at a time
/// (default 1), each given <c>TimeoutSeconds</c> (default 15 minutes) to come back Ready.
/// </summary>
public sealed record RolloutRequest(string? Channel, string? Action, string? Name, string? Version, int? MaxUnavailable, bool? PauseOnFailure, bool? AutoRollback, double? TimeoutSeconds);

/// <summary>A rollout request kldload refuses; nothing was changed. <see cref="Conflict"/> when it clashes with the current state.</summary>
public sealed class RolloutRefusedException(string message, bool conflict = false) : Exception(message)
{
    public bool Conflict { get; } = conflict;
}

/// <summary>
/// Fleet rollouts (issue 15): <see cref="StartAsync"/> moves the channel and plans the waves;
/// <see cref="StepAsync(CancellationToken)"/>, called by <see cref="RolloutRunner"/> every second, judges the nodes in
/// flight and starts the next ones; everything is written to <see cref="IRolloutStore"/> before it is
/// acted on, so a restarted kldload resumes. A node's rebuild is the same as
/// <c>kldload nodes rebuild</c>'s: Reimaging, next boot from the network once, power cycle, then
/// its attestation of the new image. One node failing stops the rollout (nothing more is started;
/// with pause-on-failure it can be resumed), and with auto-rollback the failed node is pinned to the
/// previous image and rebuilt again.
/// </summary>
public sealed partial class RolloutService(IRolloutStore store, NodeService nodes, IBmcStore bmcs, PowerService power, BootPlanner planner, LiveImageStore images, TimeProvider time, ILogger<RolloutService> logger)
{
    public const string Actor = "rollout";
    public static readonly TimeSpan DefaultNodeTimeout = TimeSpan.FromMinutes(15);

    private readonly SemaphoreSlim _gate = new(1, 1);

    public RolloutRecord? Get(string id) => store.Get(id);

    public IReadOnlyList<RolloutRecord> List() => store.List();

    /// <summary>Every problem with a request at once; an empty list when it can be tried.</summary>
    public static List<string> Validate(RolloutRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(request.Channel))
        {
            errors.Add("channel is required");
        }

        switch (request.Action)
        {
            case "promote":
                if (string.IsNullOrWhiteSpace(request.Name) || string.IsNullOrWhiteSpace(request.Version))
                {
                    errors.Add("promote needs name and version");
                }

                break;
            case "rollback":
                if (request.Name is not null || request.Version is not null)
                {
                    errors.Add("rollback takes no name or version: it returns the channel to its previous version");
                }

                break;
            default:
                errors.Add($"action '{request.Action}': use promote or rollback");
                break;
        }

        if (request.MaxUnavailable is < 1 or > 1000)
        {
            errors.Add($"maxUnavailable {request.MaxUnavailable}: between 1 and 1000 nodes at a time");
        }

        if (request.TimeoutSeconds is { } t && (double.IsNaN(t) || t < 1 || t > 86_400))
        {
            errors.Add($"timeoutSeconds {t}: between 1 and 86400");
        }

        return errors;
    }

    /// <summary>
    /// Moves the channel (promote or rollback) and records the rollout with its waves. Refused, with
    /// nothing changed, when the request is invalid, the catalog refuses the move, or a rollout of the
    /// channel is still running or paused.
    /// </summary>
    public async Task<RolloutRecord> StartAsync(RolloutRequest request, string by, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = Validate(request);
        if (errors.Count > 0)
        {
            throw new RolloutRefusedException(string.Join("; ", errors));
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var channel = request.Channel!;
            if (store.Active().FirstOrDefault(r => r.Channel == channel) is { } running)
            {
                throw new RolloutRefusedException($"rollout {running.Id} of channel {channel} is {running.State.ToString().ToLowerInvariant()}: cancel it first (kldload image rollout cancel {running.Id})", conflict: true);
            }

            ChannelEvent change;
            try
            {
                change = request.Action == "promote"
                    ? images.Catalog.Promote(channel, new ImageKey(request.Name!, request.Version!), by)
                    : images.Catalog.Rollback(channel, by);
            }
            catch (ImageCatalogException e)
            {
                throw new RolloutRefusedException(e.Message);
            }

            var target = new ImageRef { Name = change.To.Name, Version = change.To.Version };
            var maxUnavailable = request.MaxUnavailable ?? 1;
            var (planned, skipped) = RolloutJudge.Plan(nodes.Store.List(), channel, target, maxUnavailable, n => planner.Plan(n).Channel, n => bmcs.Get(n.Id) is not null);
            var now = time.GetUtcNow().UtcDateTime;
            var rollout = new RolloutRecord
            {
                Id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4)),
                Channel = channel,
                Action = request.Action!,
                Target = target,
                Previous = change.From is { } from ? new ImageRef { Name = from.Name, Version = from.Version } : null,
                MaxUnavailable = maxUnavailable,
                PauseOnFailure = request.PauseOnFailure ?? false,
                AutoRollback = request.AutoRollback ?? false,
                NodeTimeoutSeconds = request.TimeoutSeconds ?? DefaultNodeTimeout.TotalSeconds,
                State = planned.Count == 0 ? RolloutState.Completed : RolloutState.Running,
                Reason = planned.Count == 0 ? "no node of the channel to rebuild" : null,
                By = by,
                CreatedAt = now,
                UpdatedAt = now,
                FinishedAt = planned.Count == 0 ? now : null,
                Nodes = planned,
                Skipped = skipped,
            };
            store.Upsert(rollout);
            Log.Started(logger, rollout.Id, channel, change.From?.ToString() ?? "(new)", change.To.ToString(), planned.Count, rollout.WaveCount, skipped.Count);
            return rollout;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops a running or paused rollout: nothing more is started; nodes in flight finish their boot as the inventory says.</summary>
    public Task<RolloutRecord> CancelAsync(string id, string by, CancellationToken cancellationToken) =>
        ChangeAsync(id, r =>
        {
            if (!r.IsActive)
            {
                throw new RolloutRefusedException($"rollout {r.Id} is {r.State.ToString().ToLowerInvariant()}: only a running or paused rollout can be cancelled", conflict: true);
            }

            var inFlight = r.Nodes.Count(n => n.State is RolloutNodeState.Rebuilding or RolloutNodeState.RollingBack);
            r.State = RolloutState.Cancelled;
            r.Reason = $"cancelled by {by}" + (inFlight == 0 ? string.Empty : $"; {inFlight} node(s) were rebuilding and take the channel's image at their next boot");
            r.FinishedAt = r.UpdatedAt;
            Log.Stopped(logger, r.Id, r.Channel, r.State, r.Reason);
        }, cancellationToken);

    /// <summary>Goes on with a paused rollout: the failed nodes stay failed, the next wave starts.</summary>
    public Task<RolloutRecord> ResumeAsync(string id, string by, CancellationToken cancellationToken) =>
        ChangeAsync(id, r =>
        {
            if (r.State != RolloutState.Paused)
            {
                throw new RolloutRefusedException($"rollout {r.Id} is {r.State.ToString().ToLowerInvariant()}: only a paused rollout can be resumed", conflict: true);
            }

            r.State = RolloutState.Running;
            r.Reason = $"resumed by {by} after: {r.StopReason}";
            r.StopReason = null;
        }, cancellationToken);

    /// <summary>One pass over every running rollout: judge the nodes in flight, then start what may start.</summary>
    public async Task StepAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var rollout in store.Active().Where(r => r.State == RolloutState.Running))
            {
                await StepAsync(rollout, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task StepAsync(RolloutRecord rollout, CancellationToken cancellationToken)
    {
        var timeout = TimeSpan.FromSeconds(rollout.NodeTimeoutSeconds);
        foreach (var entry in rollout.Nodes.Where(n => n.State is RolloutNodeState.Rebuilding or RolloutNodeState.RollingBack))
        {
            var node = nodes.Store.Get(entry.NodeId);
            var back = entry.State == RolloutNodeState.RollingBack;
            var (verdict, why) = node is null
                ? (RebuildVerdict.Failed, "the node is gone from the inventory")
                : RolloutJudge.Judge(node, back ? rollout.Previous! : rollout.Target, entry.StartedAt!.Value, Now, timeout);
            if (verdict == RebuildVerdict.Waiting)
            {
                continue;
            }

            if (verdict == RebuildVerdict.Ready)
            {
                entry.State = back ? RolloutNodeState.RolledBack : RolloutNodeState.Ready;
                entry.FinishedAt = Now;
                entry.BootToMeshSeconds = node!.LastBootToMeshSeconds;
                Log.NodeReady(logger, rollout.Id, entry.Name, back ? rollout.Previous!.ToString() : rollout.Target.ToString());
                Save(rollout);
                continue;
            }

            if (back)
            {
                Fail(rollout, entry, node, $"{entry.Reason}; returning it to {rollout.Previous} failed too: {why}");
                continue;
            }

            Fail(rollout, entry, node, why!);
            if (rollout.AutoRollback && rollout.Previous is { } previous && node is not null)
            {
                await RebuildAsync(rollout, entry, node, previous, rollingBack: true, cancellationToken).ConfigureAwait(false);
            }
        }

        if (rollout.StopReason is { } stop)
        {
            // Nothing more starts; the rollout stops once the nodes in flight (a rollback) are judged.
            if (!rollout.Nodes.Any(n => n.State is RolloutNodeState.Rebuilding or RolloutNodeState.RollingBack))
            {
                rollout.State = rollout.PauseOnFailure ? RolloutState.Paused : RolloutState.Failed;
                rollout.Reason = rollout.PauseOnFailure ? $"paused: {stop}; resume with kldload image rollout resume {rollout.Id}" : $"stopped: {stop}";
                rollout.FinishedAt = rollout.PauseOnFailure ? null : Now;
                Save(rollout);
                Log.Stopped(logger, rollout.Id, rollout.Channel, rollout.State, rollout.Reason);
            }

            return;
        }

        if (RolloutJudge.CurrentWave(rollout) is not { } wave)
        {
            rollout.State = RolloutState.Completed;
            rollout.FinishedAt = Now;
            var ready = rollout.Nodes.Count(n => n.State == RolloutNodeState.Ready);
            var failed = rollout.Nodes.Count(n => n.State is RolloutNodeState.Failed or RolloutNodeState.RolledBack);
            rollout.Reason = $"{ready} node(s) Ready on {rollout.Target}" + (failed == 0 ? string.Empty : $", {failed} failed (resumed past them)");
            Save(rollout);
            Log.Stopped(logger, rollout.Id, rollout.Channel, rollout.State, rollout.Reason);
            return;
        }

        foreach (var entry in rollout.Nodes.Where(n => n.Wave == wave && n.State == RolloutNodeState.Pending).ToList())
        {
            var node = nodes.Store.Get(entry.NodeId);
            var follows = node is null ? null : planner.Plan(node).Channel;
            if (node is null || follows != rollout.Channel || node.State != NodeState.Ready)
            {
                // The node changed since the plan (an operator pinned, moved or rebuilt it): leave it alone.
                rollout.Nodes.Remove(entry);
                rollout.Skipped.Add(new RolloutSkip
                {
                    NodeId = entry.NodeId,
                    Name = entry.Name,
                    Reason = node is null ? "gone from the inventory" : follows != rollout.Channel ? $"no longer follows channel {rollout.Channel}" : $"not Ready when its wave came (it is {node.State})",
                });
                Save(rollout);
                continue;
            }

            await RebuildAsync(rollout, entry, node, rollout.Target, rollingBack: false, cancellationToken).ConfigureAwait(false);
            if (entry.State == RolloutNodeState.Failed)
            {
                break;
            }
        }
    }

    /// <summary>Reimaging, next boot from the network once, power cycle. The entry is saved before each act.</summary>
    private async Task RebuildAsync(RolloutRecord rollout, RolloutNode entry, NodeRecord node, ImageRef image, bool rollingBack, CancellationToken cancellationToken)
    {
        entry.State = rollingBack ? RolloutNodeState.RollingBack : RolloutNodeState.Rebuilding;
        entry.StartedAt = Now;
        entry.FinishedAt = null;
        Save(rollout);
        var what = rollingBack
            ? $"rollout {rollout.Id}: returned to {image} (pinned) after failing on {rollout.Target}; the next boot takes it"
            : $"rollout {rollout.Id} of channel {rollout.Channel}, wave {entry.Wave + 1}/{rollout.WaveCount}: {image}; the next boot takes it";
        try
        {
            node = nodes.Transition(node.Id, NodeState.Reimaging, Actor, what, n =>
            {
                if (rollingBack)
                {
                    n.PinnedImage = new ImageRef { Name = image.Name, Version = image.Version };
                    n.Channel = null;
                }
            });
            node = await power.PowerAsync(node, PowerAction.Pxe, Actor, cancellationToken).ConfigureAwait(false);
            await power.PowerAsync(node, PowerAction.Cycle, Actor, cancellationToken).ConfigureAwait(false);
            Log.NodeStarted(logger, rollout.Id, entry.Name, image.ToString(), rollingBack);
        }
        catch (Exception e) when (e is BmcException or NoBmcException or IllegalTransitionException or System.Security.Cryptography.CryptographicException or KeyNotFoundException)
        {
            var reason = $"{(rollingBack ? "returning it to " + image : "rebuild")} not started: {e.Message}";
            Fail(rollout, entry, nodes.Store.Get(node.Id), rollingBack ? $"{entry.Reason}; {reason}" : reason);
        }
    }

    private void Fail(RolloutRecord rollout, RolloutNode entry, NodeRecord? node, string why)
    {
        entry.State = RolloutNodeState.Failed;
        entry.Reason = why;
        entry.FinishedAt = Now;
        var stop = $"node {entry.Name} failed: {why}";
        rollout.StopReason ??= stop;
        if (node is not null)
        {
            nodes.Record(node, NodeEventKind.Operator, $"rollout {rollout.Id} of channel {rollout.Channel}: failed: {why}", Actor, "rollout-failed");
        }

        Log.NodeFailed(logger, rollout.Id, entry.Name, why);
        Save(rollout);
    }

    private async Task<RolloutRecord> ChangeAsync(string id, Action<RolloutRecord> change, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var rollout = store.Get(id) ?? throw new KeyNotFoundException($"no rollout {id}");
            rollout.UpdatedAt = Now;
            change(rollout);
            store.Upsert(rollout);
            return rollout;
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Save(RolloutRecord rollout)
    {
        rollout.UpdatedAt = Now;
        store.Upsert(rollout);
    }

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.RolloutStarted, Level = LogLevel.Information, Message = "rollout {Id}: channel {Channel} {From} -> {To}; {Nodes} node(s) in {Waves} wave(s), {Skipped} left alone")]
        public static partial void Started(ILogger logger, string id, string channel, string from, string to, int nodes, int waves, int skipped);

        [LoggerMessage(EventId = LogEvents.RolloutNodeStarted, Level = LogLevel.Information, Message = "rollout {Id}: {Node} reimaged with {Image} and power-cycled (rollback: {RollingBack})")]
        public static partial void NodeStarted(ILogger logger, string id, string node, string image, bool rollingBack);

        [LoggerMessage(EventId = LogEvents.RolloutNodeReady, Level = LogLevel.Information, Message = "rollout {Id}: {Node} attested {Image} and is Ready")]
        public static partial void NodeReady(ILogger logger, string id, string node, string image);

        [LoggerMessage(EventId = LogEvents.RolloutNodeFailed, Level = LogLevel.Warning, Message = "rollout {Id}: {Node} failed: {Reason}")]
        public static partial void NodeFailed(ILogger logger, string id, string node, string reason);

        [LoggerMessage(EventId = LogEvents.RolloutStopped, Level = LogLevel.Information, Message = "rollout {Id} of channel {Channel} is {State}: {Reason}")]
        public static partial void Stopped(ILogger logger, string id, string channel, RolloutState state, string? reason);
    }
}
