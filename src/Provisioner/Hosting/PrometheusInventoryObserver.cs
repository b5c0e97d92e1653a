using Kldload.Provisioner.Inventory;
using Prometheus;

namespace Kldload.Provisioner.Hosting;

/// <summary>
/// The inventory in Prometheus: <c>kldload_boots_total{stage}</c>,
/// <c>kldload_boot_steps_unattributed_total{kind}</c> and, read from the store's index counts at scrape
/// time, <c>kldload_nodes{state}</c>.
/// </summary>
internal sealed class PrometheusInventoryObserver(INodeStore store) : IInventoryObserver, IScrapeTimeMetrics
{
    private static readonly Gauge NodesByState = Metrics.CreateGauge("kldload_nodes", "Nodes by state.", "state");
    private static readonly Counter BootSteps = Metrics.CreateCounter("kldload_boots_total", "Boot steps seen, by stage.", "stage");
    private static readonly Counter Unattributed = Metrics.CreateCounter(
        "kldload_boot_steps_unattributed_total", "TFTP transfers and image downloads from an address no node is known at, by kind.", "kind");

    public void BootStepRecorded(NodeEventKind stage) => BootSteps.WithLabels(stage.ToString()).Inc();

    public void BootStepUnattributed(NodeEventKind kind) => Unattributed.WithLabels(kind.ToString()).Inc();

    public void Refresh()
    {
        // Index counts: a scrape deserializes no node document.
        foreach (var state in Enum.GetValues<NodeState>())
        {
            NodesByState.WithLabels(state.ToString()).Set(store.Count(state));
        }
    }
}
