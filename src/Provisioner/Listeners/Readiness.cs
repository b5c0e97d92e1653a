namespace Kldload.Provisioner.Listeners;

/// <summary>One part of the service that must be working for <c>/readyz</c> to answer 200.</summary>
public interface IReadinessCheck
{
    /// <summary>Short name shown when not ready, for example <c>database</c> or <c>tftp</c>.</summary>
    string Name { get; }

    /// <summary>True when this part works; otherwise <paramref name="problem"/> says why.</summary>
    bool IsReady(out string? problem);
}

/// <summary>A listener's readiness: not ready until bound, with the reason if binding failed.</summary>
public sealed class ListenerReadiness : IReadinessCheck
{
    private volatile string? _problem = "not started";

    public ListenerReadiness(string name) => Name = name;

    public string Name { get; }

    public void MarkBound() => _problem = null;

    public void MarkFailed(string problem) => _problem = problem;

    public bool IsReady(out string? problem)
    {
        problem = _problem;
        return problem is null;
    }
}
