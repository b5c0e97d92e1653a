using Kldload.Provisioner.Attestation;
using Prometheus;

namespace Kldload.Provisioner.Hosting;

/// <summary>
/// Attestation in Prometheus: <c>kldload_attestations_total{step,outcome,reason}</c>,
/// <c>kldload_hardware_changes_total{part}</c> and the histogram <c>kldload_boot_to_mesh_seconds</c>.
/// </summary>
internal sealed class PrometheusAttestationObserver : IAttestationObserver
{
    private static readonly Counter Outcomes = Metrics.CreateCounter("kldload_attestations_total", "Attestation steps by outcome and reason.", "step", "outcome", "reason");

    private static readonly Counter HardwareChanges = Metrics.CreateCounter("kldload_hardware_changes_total", "Differences in a node's hardware facts between attested boots, by part.", "part");

    private static readonly Histogram TimeToMesh = Metrics.CreateHistogram(
        "kldload_boot_to_mesh_seconds",
        "Seconds from a node's first DHCP packet (or script request) to mesh-ready.",
        new HistogramConfiguration { Buckets = [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600] });

    public void StepEnded(string step, string outcome, string reason) => Outcomes.WithLabels(step, outcome, reason).Inc();

    public void HardwareChanged(string part) => HardwareChanges.WithLabels(part).Inc();

    public void ReachedMesh(double seconds) => TimeToMesh.Observe(seconds);
}
