using System.Threading.RateLimiting;
using Kldload.Provisioner.Settings;
using Microsoft.AspNetCore.RateLimiting;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// Flood bounds on what the boot LAN can reach: a token bucket per source address on
/// <c>/boot.ipxe</c> and <c>/api/v1/attest/*</c>, and a window per MAC on boot-token minting.
/// Rejections are answered 429 with Retry-After and counted by the rate limiter's metrics.
/// </summary>
public sealed class BootLanLimits : IDisposable
{
    /// <summary>The rate-limiting policy name for endpoints the boot LAN reaches.</summary>
    public const string PerSourcePolicy = "boot-lan-per-source";

    private readonly PartitionedRateLimiter<string> _perMac;

    public BootLanLimits(LimitsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _perMac = PartitionedRateLimiter.Create<string, string>(mac => RateLimitPartition.GetFixedWindowLimiter(mac, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = settings.PerMacTokensPerMinute,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
        }));
    }

    /// <summary>True when another boot token may be minted for <paramref name="mac"/> now.</summary>
    public bool TryMintToken(string mac)
    {
        using var lease = _perMac.AttemptAcquire(mac);
        return lease.IsAcquired;
    }

    /// <summary>Adds the per-source policy to the host's rate limiter.</summary>
    public static void Configure(RateLimiterOptions options, LimitsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settings);
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.OnRejected = (context, _) =>
        {
            context.HttpContext.Response.Headers.RetryAfter = "1";
            return ValueTask.CompletedTask;
        };
        options.AddPolicy(PerSourcePolicy, http => RateLimitPartition.GetTokenBucketLimiter(
            http.Connection.RemoteIpAddress?.ToString() ?? "unknown",
            _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = settings.PerSourceBurst,
                TokensPerPeriod = settings.PerSourceRequestsPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
    }

    public void Dispose() => _perMac.Dispose();
}
