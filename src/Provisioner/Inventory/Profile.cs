using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Inventory;

/// <summary>
/// What a profile matches on. A node matches when every non-empty criterion matches (any listed
/// value within one criterion is enough); a profile with no criteria matches nothing.
/// </summary>
public sealed class ProfileMatch
{
    public List<string> Macs { get; set; } = [];

    public List<string> Uuids { get; set; } = [];

    public List<string> Serials { get; set; } = [];

    /// <summary>DHCP option 82 circuit ids, hex.</summary>
    public List<string> CircuitIds { get; set; } = [];

    /// <summary>DHCP option 82 remote ids, hex.</summary>
    public List<string> RemoteIds { get; set; } = [];

    /// <summary>Labels the node must carry, with these values.</summary>
    public Dictionary<string, string> Labels { get; set; } = [];

    /// <summary>
    /// Comparisons on the node's bound hardware facts of its last attested boot, all of which must
    /// hold (<c>facts.memory.totalGiB >= 256</c>; grammar in <c>Boot/FactsExpression</c>). The
    /// node says its facts itself, so a profile with facts never raises an enrollment policy.
    /// </summary>
    public List<string> Facts { get; set; } = [];

    /// <summary>
    /// True when the profile matches on operator-set labels alone: the only criterion a node cannot
    /// set by what it says about itself. Only such a profile may raise an enrollment policy.
    /// </summary>
    public bool IsOperatorSetOnly => Labels.Count > 0 && Macs.Count == 0 && Uuids.Count == 0 && Serials.Count == 0 && CircuitIds.Count == 0 && RemoteIds.Count == 0 && Facts.Count == 0;

    public bool IsEmpty => Macs.Count == 0 && Uuids.Count == 0 && Serials.Count == 0 && CircuitIds.Count == 0 && RemoteIds.Count == 0 && Labels.Count == 0 && Facts.Count == 0;
}

/// <summary>What the agent checks on a node before it reports Ready (issue 16).</summary>
public sealed class Commission
{
    /// <summary>Shortest burn-in a profile may ask for.</summary>
    public static readonly TimeSpan MinBurnIn = TimeSpan.FromSeconds(1);

    /// <summary>Longest burn-in a profile may ask for.</summary>
    public static readonly TimeSpan MaxBurnIn = TimeSpan.FromHours(24);

    /// <summary>
    /// Burn-in length, a whole number and a unit (<c>30s</c>, <c>5m</c>, <c>1h</c>): a bounded CPU and
    /// memory stress and a read pass over each disk, run by the agent before Ready. Null = none.
    /// </summary>
    public string? BurnIn { get; set; }

    /// <summary>The burn-in in whole seconds, or null when none is set or the text does not parse.</summary>
    public int? BurnInSeconds => BurnIn is { } text && TryParseDuration(text, out var d, out _) ? (int)d.TotalSeconds : null;

    /// <summary>
    /// Parses <c>N s|m|h</c> (N a whole number) within <see cref="MinBurnIn"/>..<see cref="MaxBurnIn"/>;
    /// on failure <paramref name="error"/> says why.
    /// </summary>
    public static bool TryParseDuration(string text, out TimeSpan duration, out string error)
    {
        ArgumentNullException.ThrowIfNull(text);
        duration = TimeSpan.Zero;
        var t = text.Trim();
        var unit = t.Length > 0 ? t[^1] : '\0';
        var seconds = unit switch { 's' => 1L, 'm' => 60L, 'h' => 3600L, _ => 0L };
        if (seconds == 0 || t.Length < 2 || !t[..^1].All(char.IsAsciiDigit) || t.Length > 10)
        {
            error = $"burnIn '{text}': use a whole number and a unit s, m or h (30s, 5m, 1h)";
            return false;
        }

        duration = TimeSpan.FromSeconds(long.Parse(t[..^1], System.Globalization.CultureInfo.InvariantCulture) * seconds);
        if (duration < MinBurnIn || duration > MaxBurnIn)
        {
            error = $"burnIn '{text}': must be between 1s and 24h";
            return false;
        }

        error = string.Empty;
        return true;
    }
}

/// <summary>Assigns an image, kernel arguments and an enrollment policy to the nodes it matches.</summary>
public sealed class Profile : IKldloadDocument
{
    /// <summary>Unique name (letters, digits, '-', '_', '.'): the key.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>Higher wins when several profiles match; ties go to the name in ordinal order.</summary>
    public int Priority { get; set; }

    public ProfileMatch Match { get; set; } = new();

    /// <summary>Image channel to boot.</summary>
    public string? Channel { get; set; }

    /// <summary>Pinned image; wins over <see cref="Channel"/>.</summary>
    public ImageRef? Image { get; set; }

    /// <summary>Extra kernel arguments appended to the image's command line.</summary>
    public string? KernelArgs { get; set; }

    /// <summary>Overrides <c>Boot:Loader</c> for the UEFI x64 nodes it matches (Ipxe, Grub); null = the global setting.</summary>
    public BootLoaderKind? Loader { get; set; }

    /// <summary>
    /// Overrides <c>Attestation:RequireSecureBoot</c> for the nodes it matches; null = the global setting. A
    /// profile that matches on facts (which a node reports itself) can only turn it on.
    /// </summary>
    public bool? RequireSecureBoot { get; set; }

    /// <summary>Overrides <c>Attestation:EnrollmentPolicy</c> for the nodes it matches (Approve, Auto, Lab).</summary>
    public string? EnrollmentPolicy { get; set; }

    /// <summary>Checks the agent runs before Ready (burn-in); null = none.</summary>
    public Commission? Commission { get; set; }

    /// <summary>Install to disk (issue 20, docs/install.md); null = the node boots the live image into RAM, as always.</summary>
    public ProfileInstall? Install { get; set; }
}
