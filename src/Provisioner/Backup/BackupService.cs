using System.Diagnostics;
using Kldload.Age;
using Kldload.Dhcp.Dhcp6.Leases;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Server;
using Kldload.ImageStore;
using Kldload.Provisioner.Leases;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Backup;

/// <summary>
/// Backups taken by the running service (admin API and schedule): one at a time, while DHCP, TFTP
/// and HTTP keep serving. Outcomes go to the log and to the <see cref="IBackupObserver"/> (the host's <c>kldload_backup*</c> metrics).
/// </summary>
public sealed partial class BackupService(KldloadConfiguration config, DhcpLeases dhcpLeases, Dhcp6Leases dhcp6Leases, TimeProvider time, ILogger<BackupService> logger, IBackupObserver observer, IKldloadDatabase? database = null)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Where this service's backups read from.</summary>
    public BackupSource Source() => CreateSource(database, config, dhcpLeases.Snapshot, dhcp6Leases.Snapshot);

    /// <summary>
    /// The source for a data directory, live (<paramref name="liveLeases"/>, <paramref name="liveLeases6"/>) or stopped.
    /// With no embedded <paramref name="database"/> (<c>Database:Provider=PostgreSql</c>) the backup holds the
    /// instance's own files only: the inventory and the leases live in PostgreSQL, backed up with its own tools.
    /// </summary>
    public static BackupSource CreateSource(IKldloadDatabase? database, KldloadConfiguration config, Func<IReadOnlyList<DhcpLease>?>? liveLeases = null,
        Func<IReadOnlyList<Dhcp6Lease>?>? liveLeases6 = null) => new()
        {
            Database = database?.Database,
            Leases = () => database is null ? null : liveLeases?.Invoke() ?? ReadLeasesAtRest(config.Kldload.DataDir),
            Leases6 = () => database is null ? null : liveLeases6?.Invoke() ?? ReadLeases6AtRest(config.Kldload.DataDir),
            DataDir = config.Kldload.DataDir,
            AdminTokenFile = config.Auth.AdminTokenFile,
            MeshCaKeyFile = config.Mesh.CaKeyFile,
            ImagesRoot = config.Images.Root,
            TrustedKeysDir = config.Images.TrustedKeysDir,
            Settings = SettingsInForce(config),
        };

    /// <summary>Writes an encrypted backup to <paramref name="output"/>.</summary>
    public async Task<BackupManifest> WriteAsync(Stream output, Func<Stream, AgeEncryptingStream> encrypt, bool includeImages, string trigger, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        var started = Stopwatch.GetTimestamp();
        try
        {
            var age = encrypt(output);
            await using (age.ConfigureAwait(false))
            {
                var manifest = await BackupWriter.WriteAsync(Source(), age, includeImages, NoTransferProgress.Instance, time, cancellationToken).ConfigureAwait(false);
                await age.CompleteAsync(cancellationToken).ConfigureAwait(false);
                var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                observer.Completed(trigger, time.GetUtcNow(), age.Position, seconds);
                Log.Completed(logger, trigger, manifest.Counts.ToString(), age.Position, seconds);
                return manifest;
            }
        }
        catch (Exception e)
        {
            observer.Failed(trigger);
            Log.Failed(logger, trigger, e.Message);
            throw;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Every key of kldload's own sections with its value (and the listen URLs).</summary>
    internal static SortedDictionary<string, string?> SettingsInForce(KldloadConfiguration config)
    {
        var settings = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (var section in KldloadConfiguration.Sections)
        {
            foreach (var (key, value) in config.Root.GetSection(section).AsEnumerable())
            {
                if (value is not null)
                {
                    settings[key] = value;
                }
            }
        }

        settings["urls"] = string.Join(';', config.Urls.Select(u => u.OriginalString));
        return settings;
    }

    /// <summary>
    /// DHCPv6 leases of a journal nobody appends to (DHCPv6 off, proxy mode, or a stopped service): the
    /// latest record of each address; a torn tail is left out as the server's replay would.
    /// </summary>
    private static List<Dhcp6Lease>? ReadLeases6AtRest(string dataDir)
    {
        var path = Path.Combine(dataDir, "leases6.journal");
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var latest = new Dictionary<System.Net.IPAddress, Dhcp6Lease>();
            foreach (var lease in Dhcp6LeaseJournalStore.Read(File.ReadAllBytes(path), out _))
            {
                latest[lease.Address] = lease;
            }

            return latest.Values.ToList();
        }
        catch (LeaseJournalException e)
        {
            throw new IOException($"the DHCPv6 lease journal {path} cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Leases of a lease database nobody holds open (DHCP off, proxy mode, or a stopped service).</summary>
    private static List<DhcpLease>? ReadLeasesAtRest(string dataDir)
    {
        var path = Path.Combine(dataDir, "leases.db");
        if (!File.Exists(path) && !File.Exists(Path.ChangeExtension(path, ".journal")))
        {
            return null;
        }

        try
        {
            using var store = LiteDbLeaseStore.Open(path);
            return [.. store.LoadAll()];
        }
        catch (IOException e)
        {
            throw new IOException($"the lease database {path} is in use ({e.Message}): is `kldload serve` running on this data directory? Back up through it (without --offline).", e);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.BackupCompleted, Level = LogLevel.Information, Message = "backup ({Trigger}) completed: {Counts}; {Bytes} bytes in {Seconds:0.00} s")]
        public static partial void Completed(ILogger logger, string trigger, string counts, long bytes, double seconds);

        [LoggerMessage(EventId = LogEvents.BackupFailed, Level = LogLevel.Error, Message = "backup ({Trigger}) failed: {Reason}")]
        public static partial void Failed(ILogger logger, string trigger, string reason);
    }
}
