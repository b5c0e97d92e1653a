namespace Kldload.Provisioner;

/// <summary>
/// Metrics read from a component's own state when Prometheus scrapes <c>/metrics</c> (lease counts,
/// engine counters, nodes by state), so that the hot path only increments integers. The host
/// registers each one and refreshes them all before it answers a scrape; none registers itself
/// globally, so two hosts in one process each report their own.
/// </summary>
public interface IScrapeTimeMetrics
{
    /// <summary>Copies the component's current values into its Prometheus metrics.</summary>
    void Refresh();
}
