namespace Kldload.Provisioner.Backup;

/// <summary>What the running service's backups report besides the log: each outcome, and the size and duration of a completed one.</summary>
public interface IBackupObserver
{
    /// <summary>A backup started by <paramref name="trigger"/> (api, schedule) completed at <paramref name="at"/>.</summary>
    /// <param name="trigger">What started it: <c>api</c> or <c>schedule</c>.</param>
    /// <param name="at">When it completed.</param>
    /// <param name="bytes">Plaintext size written.</param>
    /// <param name="seconds">How long it took.</param>
    void Completed(string trigger, DateTimeOffset at, long bytes, double seconds);

    /// <summary>A backup started by <paramref name="trigger"/> failed.</summary>
    void Failed(string trigger);
}
