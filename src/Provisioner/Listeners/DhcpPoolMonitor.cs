using Kldload.Dhcp.Server;
using Kldload.Provisioner.Leases;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// Decides when a pool's usage is worth a warning: once when it passes <see cref="Threshold"/>, and
/// again only after it has fallen back below it (no warning every period while a pool stays full).
/// Pure: usage in, the pools that just crossed out.
/// </summary>
public sealed class PoolUsageWatch
{
    /// <summary>The share of a pool in use above which kldload warns.</summary>
    public const double Threshold = 0.9;

    private readonly HashSet<string> _above = new(StringComparer.Ordinal);

    /// <summary>The pools that passed the threshold since the last call.</summary>
    public IReadOnlyList<DhcpPoolUsage> Crossed(IEnumerable<DhcpPoolUsage> usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        var crossed = new List<DhcpPoolUsage>();
        foreach (var pool in usage)
        {
            if (pool.UsedFraction > Threshold)
            {
                if (_above.Add(pool.Name))
                {
                    crossed.Add(pool);
                }
            }
            else
            {
                _above.Remove(pool.Name);
            }
        }

        return crossed;
    }
}

/// <summary>
/// Looks at every pool's usage every <see cref="Period"/> and logs a warning (event 410) when a pool
/// passes 90 %; the numbers themselves are the <c>kldload_dhcp_pool_addresses</c> metric.
/// </summary>
public sealed partial class DhcpPoolMonitor(DhcpLeases leases, TimeProvider time, ILogger<DhcpPoolMonitor> logger) : BackgroundService
{
    /// <summary>How often pools are looked at.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(2);

    private readonly PoolUsageWatch _watch = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (leases.Query is not { } query)
                {
                    continue;
                }

                foreach (var pool in _watch.Crossed(query.PoolUsage()))
                {
                    Log.PoolAlmostFull(logger, pool.Name, pool.Size - pool.Free, pool.Size, pool.UsedFraction * 100, pool.Active, pool.Offered, pool.Declined, pool.Reserved);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.DhcpPoolAlmostFull, Level = LogLevel.Warning, Message = "DHCP pool {Subnet} is {Percent:0}% used ({Used} of {Size}: {Active} active, {Offered} offered, {Declined} declined, {Reserved} reserved)")]
        public static partial void PoolAlmostFull(ILogger logger, string subnet, int used, int size, double percent, int active, int offered, int declined, int reserved);
    }
}
