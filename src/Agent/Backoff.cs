namespace Kldload.Agent;

/// <summary>Retry delays: doubling from <c>initial</c> up to <c>max</c>, with up to 20% jitter.</summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan max, Random? random = null)
{
    private readonly TimeSpan _initial = initial;
    private readonly Random _random = random ?? Random.Shared;
    private TimeSpan _next = initial;

    /// <summary>The next delay to wait.</summary>
    public TimeSpan Next()
    {
        var current = _next;
        _next = TimeSpan.FromTicks(Math.Min(max.Ticks, current.Ticks * 2));
        return current + TimeSpan.FromTicks((long)(current.Ticks * 0.2 * _random.NextDouble()));
    }

    /// <summary>Back to the initial delay after a success.</summary>
    public void Reset() => _next = _initial;
}
