using Kldload.Dhcp.Dhcp6.Protocol;
using Kldload.Dhcp.Dhcp6.Server;
using Prometheus;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// Prometheus metrics of the DHCPv6 listener, read from the engine's counters at scrape time:
/// <c>kldload_dhcp6_packets_received_total{type}</c>, <c>kldload_dhcp6_packets_sent_total{type}</c>,
/// <c>kldload_dhcp6_dropped_total{reason}</c>, <c>kldload_dhcp6_malformed_total{error}</c>,
/// <c>kldload_dhcp6_leases_active</c>, <c>kldload_dhcp6_queue_overflows_total</c>.
/// </summary>
internal sealed class Dhcp6Metrics(Dhcp6Listener listener) : IScrapeTimeMetrics
{
    private static readonly Counter Received = Metrics.CreateCounter("kldload_dhcp6_packets_received_total", "DHCPv6 messages received, by message type (relay-forward counted besides the message it carries).", "type");
    private static readonly Counter Sent = Metrics.CreateCounter("kldload_dhcp6_packets_sent_total", "DHCPv6 messages sent, by message type (relay-reply counted besides the message it carries).", "type");
    private static readonly Counter Dropped = Metrics.CreateCounter("kldload_dhcp6_dropped_total", "DHCPv6 datagrams not answered, by reason.", "reason");
    private static readonly Counter Malformed = Metrics.CreateCounter("kldload_dhcp6_malformed_total", "Malformed DHCPv6 datagrams, by parse error.", "error");
    private static readonly Gauge LeasesActive = Metrics.CreateGauge("kldload_dhcp6_leases_active", "DHCPv6 leases bound now.");
    private static readonly Counter QueueOverflows = Metrics.CreateCounter("kldload_dhcp6_queue_overflows_total", "DHCPv6 datagrams lost because the receive queue was full.");

    /// <summary>Copies the listener's counters into the metrics (at scrape time; nothing before the listener started).</summary>
    public void Refresh()
    {
        if (listener.Engine is not { } engine)
        {
            return;
        }

        var counters = engine.Counters;
        foreach (var type in Enum.GetValues<Dhcp6MessageType>())
        {
            var name = type.ToString().ToLowerInvariant();
            if (type is Dhcp6MessageType.Advertise or Dhcp6MessageType.Reply or Dhcp6MessageType.RelayReply or Dhcp6MessageType.Reconfigure)
            {
                Sent.WithLabels(name).IncTo(counters.Sent(type));
            }
            else
            {
                Received.WithLabels(name).IncTo(counters.Received(type));
            }
        }

        foreach (var reason in Enum.GetValues<Dhcp6DropReason>())
        {
            Dropped.WithLabels(reason.ToString()).IncTo(counters.Dropped(reason));
        }

        foreach (var error in Enum.GetValues<Dhcp6ReadError>())
        {
            if (error != Dhcp6ReadError.None)
            {
                Malformed.WithLabels(error.ToString()).IncTo(counters.Malformed(error));
            }
        }

        LeasesActive.Set(engine.ActiveLeaseCount);
        QueueOverflows.IncTo(listener.QueueOverflows);
    }
}
