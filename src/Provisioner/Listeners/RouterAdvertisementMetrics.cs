using Kldload.Dhcp.RouterDiscovery;
using Prometheus;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// Prometheus metrics of the router advertisement listener, read from the advertiser's counters at
/// scrape time: <c>kldload_ra_solicitations_received_total</c>, <c>kldload_ra_advertisements_sent_total</c>,
/// <c>kldload_ra_other_router_advertisements_total</c>, <c>kldload_ra_dropped_total{reason}</c>,
/// <c>kldload_ra_send_failures_total</c> and <c>kldload_ra_silenced</c> (1 while Auto mode keeps quiet
/// because another router advertises).
/// </summary>
internal sealed class RouterAdvertisementMetrics(RouterAdvertisementListener listener) : IScrapeTimeMetrics
{
    private static readonly Counter Solicitations = Metrics.CreateCounter("kldload_ra_solicitations_received_total", "Valid IPv6 router solicitations received on Dhcp:Interface.");
    private static readonly Counter Sent = Metrics.CreateCounter("kldload_ra_advertisements_sent_total", "Empty router advertisements sent in answer to solicitations.");
    private static readonly Counter OtherRouter = Metrics.CreateCounter("kldload_ra_other_router_advertisements_total", "Router advertisements from other routers that configure hosts.");
    private static readonly Counter Dropped = Metrics.CreateCounter("kldload_ra_dropped_total", "Router discovery messages not answered, by reason.", "reason");
    private static readonly Counter SendFailures = Metrics.CreateCounter("kldload_ra_send_failures_total", "ICMPv6 messages the kernel refused to send.");
    private static readonly Gauge Silenced = Metrics.CreateGauge("kldload_ra_silenced", "1 while Auto mode does not answer because another router advertises.");

    /// <summary>Copies the listener's counters into the metrics (at scrape time; nothing before the listener started).</summary>
    public void Refresh()
    {
        if (listener.Advertiser is not { } advertiser)
        {
            return;
        }

        var counters = advertiser.Counters;
        Solicitations.IncTo(counters.Solicitations);
        Sent.IncTo(counters.AdvertisementsSent);
        OtherRouter.IncTo(counters.OtherRouterAdvertisements);
        foreach (var reason in Enum.GetValues<RouterDiscoveryDrop>())
        {
            Dropped.WithLabels(reason.ToString()).IncTo(counters.Dropped(reason));
        }

        SendFailures.IncTo(listener.SendFailures);
        Silenced.Set(advertiser.SilencedBy is null ? 0 : 1);
    }
}
