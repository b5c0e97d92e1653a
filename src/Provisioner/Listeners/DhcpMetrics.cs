using Kldload.Dhcp;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using Prometheus;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// Prometheus metrics of the DHCP listener, read from the engine's counters at scrape time (the hot
/// path only increments integers): <c>kldload_dhcp_packets_received_total{type}</c>,
/// <c>kldload_dhcp_packets_sent_total{type}</c>, <c>kldload_dhcp_dropped_total{reason}</c>,
/// <c>kldload_dhcp_malformed_total{error}</c>, <c>kldload_dhcp_leases_active</c>,
/// <c>kldload_dhcp_offers_pending</c>, <c>kldload_dhcp_queue_overflows_total</c>,
/// <c>kldload_dhcp_peer_alive</c> (load balancing: 1 while the peer's heartbeat is fresh), and per pool
/// <c>kldload_dhcp_pool_addresses{subnet,state}</c> (state: active, offered, declined, reserved, free;
/// they add up to the pool's size).
/// </summary>
internal sealed class DhcpMetrics(DhcpListener listener) : IScrapeTimeMetrics
{
    private static readonly Counter Received = Metrics.CreateCounter("kldload_dhcp_packets_received_total", "DHCP messages received, by message type.", "type");
    private static readonly Counter Sent = Metrics.CreateCounter("kldload_dhcp_packets_sent_total", "DHCP replies sent, by message type.", "type");
    private static readonly Counter Dropped = Metrics.CreateCounter("kldload_dhcp_dropped_total", "DHCP datagrams not answered, by reason.", "reason");
    private static readonly Counter Malformed = Metrics.CreateCounter("kldload_dhcp_malformed_total", "Malformed DHCP datagrams, by parse error.", "error");
    private static readonly Gauge LeasesActive = Metrics.CreateGauge("kldload_dhcp_leases_active", "DHCP leases bound now.");
    private static readonly Gauge OffersPending = Metrics.CreateGauge("kldload_dhcp_offers_pending", "DHCP offers made and not yet requested or expired.");
    private static readonly Gauge PeerAlive = Metrics.CreateGauge("kldload_dhcp_peer_alive", "DHCP load balancing: 1 while the peer's heartbeat is younger than Dhcp:PeerTimeout (this server answers its half), else 0.");
    private static readonly Counter QueueOverflows = Metrics.CreateCounter("kldload_dhcp_queue_overflows_total", "DHCP datagrams lost because the receive queue was full.");

    private static readonly Gauge PoolAddresses = Metrics.CreateGauge("kldload_dhcp_pool_addresses", "Addresses of each DHCP pool, by subnet and state (they add up to the pool size).", "subnet", "state");

    /// <summary>Copies the listener's counters into the metrics (at scrape time; nothing before the listener started).</summary>
    public void Refresh()
    {
        if (listener.Engine is not { } engine)
        {
            return;
        }

        var counters = engine.Counters;
        foreach (var type in Enum.GetValues<DhcpMessageType>())
        {
            var name = type.ToString().ToLowerInvariant();
            if (type is DhcpMessageType.Offer or DhcpMessageType.Ack or DhcpMessageType.Nak)
            {
                Sent.WithLabels(name).IncTo(counters.Sent(type));
            }
            else
            {
                Received.WithLabels(name).IncTo(counters.Received(type));
            }
        }

        foreach (var reason in Enum.GetValues<DhcpDropReason>())
        {
            Dropped.WithLabels(reason.ToString()).IncTo(counters.Dropped(reason));
        }

        foreach (var error in Enum.GetValues<DhcpReadError>())
        {
            if (error != DhcpReadError.None)
            {
                Malformed.WithLabels(error.ToString()).IncTo(counters.Malformed(error));
            }
        }

        LeasesActive.Set(engine.ActiveLeaseCount);
        OffersPending.Set(engine.PendingOfferCount);
        QueueOverflows.IncTo(listener.QueueOverflows);
        PeerAlive.Set(engine.PeerAlive ? 1 : 0);
        if (engine.Mode == DhcpServerMode.Full)
        {
            foreach (var pool in engine.PoolUsage())
            {
                PoolAddresses.WithLabels(pool.Name, "active").Set(pool.Active);
                PoolAddresses.WithLabels(pool.Name, "offered").Set(pool.Offered);
                PoolAddresses.WithLabels(pool.Name, "declined").Set(pool.Declined);
                PoolAddresses.WithLabels(pool.Name, "reserved").Set(pool.Reserved);
                PoolAddresses.WithLabels(pool.Name, "free").Set(pool.Free);
            }
        }
    }
}
