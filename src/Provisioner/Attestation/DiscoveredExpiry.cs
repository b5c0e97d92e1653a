using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// Removes Discovered nodes that never attested once <c>Inventory:DiscoveredTtl</c> has passed since
/// they were last seen (a script request costs an attacker nothing, so what it creates must not
/// stay forever), and boot tokens and attestation sessions a day after they expired.
/// </summary>
public sealed partial class DiscoveredExpiry(
    NodeService nodes,
    Boot.BootTokens tokens,
    Attestation.IAttestationSessionStore sessions,
    InventorySettings settings,
    TimeProvider time,
    ILogger<DiscoveredExpiry> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromTicks(Math.Clamp(settings.DiscoveredTtl.Ticks / 4, TimeSpan.FromSeconds(15).Ticks, TimeSpan.FromMinutes(10).Ticks));
        using var timer = new PeriodicTimer(period, time);

        // The first sweep waits one period: nothing is due at start, and start-up is busy enough.
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                var removed = 0;
                int batch;
                do
                {
                    batch = nodes.ExpireDiscovered(time.GetUtcNow().UtcDateTime - settings.DiscoveredTtl);
                    removed += batch;
                }
                while (batch > 0 && !stoppingToken.IsCancellationRequested);

                if (removed > 0)
                {
                    Log.Expired(logger, removed, settings.DiscoveredTtl);
                }

                tokens.DeleteExpired();
                sessions.DeleteExpired();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log.Failed(logger, e);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.DiscoveredExpired, Level = LogLevel.Information, Message = "removed {Count} Discovered nodes that never attested within {Ttl} (Inventory:DiscoveredTtl)")]
        public static partial void Expired(ILogger logger, int count, TimeSpan ttl);

        [LoggerMessage(EventId = LogEvents.DiscoveredExpiryFailed, Level = LogLevel.Warning, Message = "expiring Discovered nodes failed")]
        public static partial void Failed(ILogger logger, Exception e);
    }
}
