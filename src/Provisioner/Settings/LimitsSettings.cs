namespace Kldload.Provisioner.Settings;

/// <summary>
/// The <c>Limits</c> section: how much one source address or one MAC may ask of the boot-LAN
/// endpoints (<c>/boot.ipxe</c>, <c>/api/v1/attest/*</c>) before it is answered 429. A 1,000-node
/// rack booting at once from distinct addresses never reaches them.
/// </summary>
public sealed record LimitsSettings
{
    /// <summary><c>Limits:PerSourceRequestsPerSecond</c>: sustained requests per second from one address (default 200).</summary>
    public int PerSourceRequestsPerSecond { get; init; } = 200;

    /// <summary><c>Limits:PerSourceBurst</c>: requests one address may send at once before the rate applies (default 2,000).</summary>
    public int PerSourceBurst { get; init; } = 2_000;

    /// <summary><c>Limits:PerMacTokensPerMinute</c>: boot tokens minted for one MAC per minute (default 30).</summary>
    public int PerMacTokensPerMinute { get; init; } = 30;

    internal static LimitsSettings Read(SettingsReader r) => new()
    {
        PerSourceRequestsPerSecond = r.Int("Limits:PerSourceRequestsPerSecond", 200, 1, 1_000_000),
        PerSourceBurst = r.Int("Limits:PerSourceBurst", 2_000, 1, 10_000_000),
        PerMacTokensPerMinute = r.Int("Limits:PerMacTokensPerMinute", 30, 1, 1_000_000),
    };
}

/// <summary>What a difference in a node's hardware facts between two attested boots does (<c>Inventory:HardwareChange</c>).</summary>
public enum HardwareChange
{
    /// <summary>An event names what changed and <c>kldload_hardware_changes_total</c> counts it; the node boots on.</summary>
    Record,

    /// <summary>As Record, and the node is quarantined until <c>kldload nodes approve</c>.</summary>
    Quarantine,
}

/// <summary>The <c>Inventory</c> section: bounds on nodes nobody has proven yet, and what a hardware change does.</summary>
public sealed record InventorySettings
{
    /// <summary><c>Inventory:MaxDiscovered</c>: most Discovered (never attested) nodes kept (default 50,000).</summary>
    public int MaxDiscovered { get; init; } = 50_000;

    /// <summary><c>Inventory:DiscoveredTtl</c>: a Discovered node that never attests is removed after this (default 24 h).</summary>
    public TimeSpan DiscoveredTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary><c>Inventory:HardwareChange</c>: Record (default) or Quarantine.</summary>
    public HardwareChange HardwareChange { get; init; } = HardwareChange.Record;

    internal static InventorySettings Read(SettingsReader r) => new()
    {
        HardwareChange = r.Enum("Inventory:HardwareChange", HardwareChange.Record),
        MaxDiscovered = r.Int("Inventory:MaxDiscovered", 50_000, 1, 10_000_000),
        DiscoveredTtl = r.Duration("Inventory:DiscoveredTtl", TimeSpan.FromHours(24), TimeSpan.FromMinutes(1), TimeSpan.FromDays(3650)),
    };
}
