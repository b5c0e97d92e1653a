using System.Globalization;
using Kldload.Age;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Backup;

/// <summary>
/// <c>Backup:Schedule</c>: writes <c>kldload-backup-{time}.age</c> into <c>Backup:Directory</c> every
/// interval (the first one interval after the newest existing backup, or at once when none is
/// recent), through a temporary file and a rename, then keeps the newest <c>Backup:Keep</c>.
/// </summary>
public sealed partial class BackupScheduler(BackupService backups, BackupSettings settings, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<BackupScheduler> logger) : BackgroundService
{
    public const string FilePrefix = "kldload-backup-";
    public const string FileSuffix = ".age";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (settings.Schedule is not { } interval || settings.Directory is not { } directory)
        {
            return;
        }

        // Start only once every listener and store has started (the mesh CA creates its files then).
        var started = new TaskCompletionSource();
        await using (lifetime.ApplicationStarted.Register(started.SetResult).ConfigureAwait(false))
        await using (stoppingToken.Register(() => started.TrySetCanceled()).ConfigureAwait(false))
        {
            try
            {
                await started.Task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        Directory.CreateDirectory(directory);
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var newest = Existing(directory).Select(f => (DateTimeOffset?)f.LastWriteTimeUtc).FirstOrDefault();
            var due = newest is { } n ? n + interval : time.GetUtcNow();
            var wait = due - time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            try
            {
                await RunOnceAsync(directory, stoppingToken).ConfigureAwait(false);
                failures = 0;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Counted and logged by BackupService; try again soon (30 s, then up to 5 minutes), not a full interval.
                var pause = TimeSpan.FromSeconds(Math.Min(Math.Min(300, 30 << Math.Min(failures++, 4)), interval.TotalSeconds));
                Log.WillRetry(logger, e.Message, pause.TotalSeconds);
                try
                {
                    await Task.Delay(pause, time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Writes one scheduled backup and prunes old ones; returns the file written.</summary>
    public async Task<string> RunOnceAsync(string directory, CancellationToken cancellationToken)
    {
        var name = FilePrefix + time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + FileSuffix;
        var path = Path.Combine(directory, name);
        var temp = Path.Combine(directory, "." + name + ".partial");
        try
        {
            var file = new FileStream(temp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite, BufferSize = 1 << 16 });
            await using (file.ConfigureAwait(false))
            {
                await backups.WriteAsync(file, Encryptor, settings.IncludeImages, "schedule", cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }

        foreach (var old in Existing(directory).Skip(settings.Keep))
        {
            old.Delete();
        }

        return path;
    }

    private AgeEncryptingStream Encryptor(Stream output) => settings.Recipients.Count > 0
        ? AgeEncryptingStream.ToRecipients(output, settings.Recipients, leaveOpen: true)
        : AgeEncryptingStream.WithPassphrase(output, BackupSettings.ReadPassphrase(settings.PassphraseFile!) ?? throw new InvalidOperationException($"{settings.PassphraseFile} is empty"), leaveOpen: true);

    private static IEnumerable<FileInfo> Existing(string directory) =>
        new DirectoryInfo(directory).EnumerateFiles(FilePrefix + "*" + FileSuffix).OrderByDescending(f => f.Name, StringComparer.Ordinal);

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.BackupWillRetry, Level = LogLevel.Warning, Message = "scheduled backup failed ({Reason}); retrying in {Seconds} s")]
        public static partial void WillRetry(ILogger logger, string reason, double seconds);
    }
}
