using Kldload.Provisioner.Power;

namespace Kldload.Provisioner.Api;

/// <summary>One node of a rollout as the API shows it.</summary>
public sealed record RolloutNodeView(string NodeId, string Name, int Wave, string State, string? Reason, DateTime? StartedAt, DateTime? FinishedAt, double? BootToMeshSeconds);

/// <summary>A node of the channel the rollout left alone, and why.</summary>
public sealed record RolloutSkipView(string NodeId, string Name, string Reason);

/// <summary>A rollout as the API shows it, with its counts for a progress bar.</summary>
public sealed record RolloutView(
    string Id, string Channel, string Action, string Target, string? Previous, string State, string? Reason,
    int MaxUnavailable, bool PauseOnFailure, bool AutoRollback, double NodeTimeoutSeconds,
    int Waves, int? CurrentWave, int Total, int Ready, int Rebuilding, int Failed, int Pending,
    string By, DateTime CreatedAt, DateTime UpdatedAt, DateTime? FinishedAt,
    IReadOnlyList<RolloutNodeView> Nodes, IReadOnlyList<RolloutSkipView> Skipped)
{
    public static RolloutView From(RolloutRecord r)
    {
        ArgumentNullException.ThrowIfNull(r);
        static DateTime? Utc(DateTime? d) => d is { } v ? NodeView.Utc(v) : null;
        int Count(params RolloutNodeState[] states) => r.Nodes.Count(n => states.Contains(n.State));
        return new RolloutView(
            r.Id, r.Channel, r.Action, r.Target.ToString(), r.Previous?.ToString(), r.State.ToString(), r.Reason,
            r.MaxUnavailable, r.PauseOnFailure, r.AutoRollback, r.NodeTimeoutSeconds,
            r.WaveCount, r.IsActive ? RolloutJudge.CurrentWave(r) : null, r.Nodes.Count,
            Count(RolloutNodeState.Ready), Count(RolloutNodeState.Rebuilding, RolloutNodeState.RollingBack),
            Count(RolloutNodeState.Failed, RolloutNodeState.RolledBack), Count(RolloutNodeState.Pending),
            r.By, NodeView.Utc(r.CreatedAt), NodeView.Utc(r.UpdatedAt), Utc(r.FinishedAt),
            [.. r.Nodes.Select(n => new RolloutNodeView(n.NodeId, n.Name, n.Wave, n.State.ToString(), n.Reason, Utc(n.StartedAt), Utc(n.FinishedAt), n.BootToMeshSeconds))],
            [.. r.Skipped.Select(s => new RolloutSkipView(s.NodeId, s.Name, s.Reason))]);
    }
}

/// <summary>
/// <c>/api/v1/rollouts</c>: start a fleet rollout (the channel moves at once, the nodes follow in
/// waves), list and show rollouts, cancel or resume one. The rollout itself runs in the server.
/// </summary>
public static class RolloutEndpoints
{
    public static RouteGroupBuilder MapRolloutEndpoints(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapPost("/rollouts", StartAsync);
        api.MapGet("/rollouts", (RolloutService rollouts) => Results.Ok(rollouts.List().Select(RolloutView.From).ToList()));
        api.MapGet("/rollouts/{id}", (string id, RolloutService rollouts) =>
            rollouts.Get(id) is { } r ? Results.Ok(RolloutView.From(r)) : NotFound(id));
        api.MapPost("/rollouts/{id}/cancel", (string id, RolloutService rollouts, HttpContext http, CancellationToken ct) =>
            ChangeAsync(id, () => rollouts.CancelAsync(id, NodeEndpoints.Actor(http), ct)));
        api.MapPost("/rollouts/{id}/resume", (string id, RolloutService rollouts, HttpContext http, CancellationToken ct) =>
            ChangeAsync(id, () => rollouts.ResumeAsync(id, NodeEndpoints.Actor(http), ct)));
        return api;
    }

    private static async Task<IResult> StartAsync(RolloutRequest body, RolloutService rollouts, HttpContext http, CancellationToken cancellationToken)
    {
        try
        {
            var r = await rollouts.StartAsync(body, NodeEndpoints.Actor(http), cancellationToken).ConfigureAwait(false);
            return Results.Created($"/api/v1/rollouts/{r.Id}", RolloutView.From(r));
        }
        catch (RolloutRefusedException e)
        {
            return Refused(e);
        }
    }

    private static async Task<IResult> ChangeAsync(string id, Func<Task<RolloutRecord>> change)
    {
        try
        {
            return Results.Ok(RolloutView.From(await change().ConfigureAwait(false)));
        }
        catch (KeyNotFoundException)
        {
            return NotFound(id);
        }
        catch (RolloutRefusedException e)
        {
            return Refused(e);
        }
    }

    private static IResult Refused(RolloutRefusedException e) => e.Conflict
        ? NodeEndpoints.Problem(StatusCodes.Status409Conflict, "rollout refused", e.Message)
        : NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "rollout refused", e.Message);

    private static IResult NotFound(string id) =>
        NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"no rollout '{id}'");
}
