namespace Kldload.Provisioner.Power;

/// <summary>
/// Drives the rollouts in the server, not in the CLI: once the host has started, resumes every
/// rollout left running in the database, then calls <see cref="RolloutService.StepAsync(CancellationToken)"/>
/// every <see cref="Interval"/> until shutdown. A failing pass is logged and retried at the next tick;
/// it never stops the loop.
/// </summary>
public sealed partial class RolloutRunner(RolloutService rollouts, IRolloutStore store, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<RolloutRunner> logger) : BackgroundService
{
    /// <summary>How often the nodes in flight are judged.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        await using (lifetime.ApplicationStarted.Register(started.SetResult).ConfigureAwait(false))
        await using (stoppingToken.Register(() => started.TrySetCanceled()).ConfigureAwait(false))
        {
            try
            {
                await started.Task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        foreach (var r in store.Active())
        {
            Log.Resumed(logger, r.Id, r.Channel, r.State, r.Nodes.Count(n => n.State is RolloutNodeState.Ready), r.Nodes.Count);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await rollouts.StepAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(Interval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // one bad pass (a database hiccup) must not end the rollouts of the whole server
            catch (Exception e)
#pragma warning restore CA1031
            {
                Log.StepFailed(logger, e);
                await Task.Delay(Interval, time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.RolloutResumed, Level = LogLevel.Information, Message = "rollout {Id} of channel {Channel} resumed after a restart ({State}, {Ready}/{Total} node(s) Ready)")]
        public static partial void Resumed(ILogger logger, string id, string channel, RolloutState state, int ready, int total);

        [LoggerMessage(EventId = LogEvents.RolloutStepFailed, Level = LogLevel.Error, Message = "a rollout pass failed; retrying at the next tick")]
        public static partial void StepFailed(ILogger logger, Exception exception);
    }
}
