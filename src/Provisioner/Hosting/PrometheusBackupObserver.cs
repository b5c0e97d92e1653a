using Kldload.Provisioner.Backup;
using Prometheus;

namespace Kldload.Provisioner.Hosting;

/// <summary>
/// Backups in Prometheus: <c>kldload_backups_total{trigger,outcome}</c> and, of the last completed one,
/// <c>kldload_backup_last_success_timestamp_seconds</c>, <c>kldload_backup_last_bytes</c> and
/// <c>kldload_backup_last_duration_seconds</c>.
/// </summary>
internal sealed class PrometheusBackupObserver : IBackupObserver
{
    private static readonly Counter Runs = Metrics.CreateCounter("kldload_backups_total", "Backups by trigger (api, schedule) and outcome (ok, failed).", "trigger", "outcome");
    private static readonly Gauge LastSuccess = Metrics.CreateGauge("kldload_backup_last_success_timestamp_seconds", "Unix time of the last backup that completed.");
    private static readonly Gauge LastBytes = Metrics.CreateGauge("kldload_backup_last_bytes", "Plaintext size of the last completed backup, in bytes.");
    private static readonly Gauge LastSeconds = Metrics.CreateGauge("kldload_backup_last_duration_seconds", "How long the last completed backup took.");

    public void Completed(string trigger, DateTimeOffset at, long bytes, double seconds)
    {
        Runs.WithLabels(trigger, "ok").Inc();
        LastSuccess.Set(at.ToUnixTimeMilliseconds() / 1000.0);
        LastBytes.Set(bytes);
        LastSeconds.Set(seconds);
    }

    public void Failed(string trigger) => Runs.WithLabels(trigger, "failed").Inc();
}
