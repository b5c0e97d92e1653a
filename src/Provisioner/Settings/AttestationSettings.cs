namespace Kldload.Provisioner.Settings;

/// <summary>How a new EK becomes trusted (<c>Attestation:EnrollmentPolicy</c>).</summary>
public enum EnrollmentPolicy
{
    /// <summary>A new EK waits in Enrolling until an operator approves it (default).</summary>
    Approve,

    /// <summary>The EK certificate must chain to a root in <c>Attestation:EkRootsDir</c>.</summary>
    Auto,

    /// <summary>Any EK is accepted: for software TPMs in a lab.</summary>
    Lab,
}

/// <summary>The <c>Attestation</c> section.</summary>
/// <summary>What happens when a pinned firmware PCR (0, 2, 7) of a known node changes.</summary>
public enum FirmwareDrift
{
    /// <summary>The node is quarantined.</summary>
    Quarantine,

    /// <summary>The node waits in Enrolling until <c>kldload nodes approve</c>, with the drift shown (default).</summary>
    Approve,

    /// <summary>The new values are pinned and the node goes on; the drift is an event.</summary>
    Accept,
}

public sealed record AttestationSettings
{
    public EnrollmentPolicy EnrollmentPolicy { get; init; } = EnrollmentPolicy.Approve;

    /// <summary>Directory of trusted EK roots and intermediates (PEM or DER); never fetched from the network.</summary>
    public string? EkRootsDir { get; init; }

    /// <summary>SHA-256 PCRs every quote must cover. Default 0-7 and 9 (the kernel's command line and initrd).</summary>
    public IReadOnlyList<int> Pcrs { get; init; } = [0, 1, 2, 3, 4, 5, 6, 7, 9];

    /// <summary>What a change of a pinned firmware PCR (0, 2, 7) does.</summary>
    public FirmwareDrift FirmwareDrift { get; init; } = FirmwareDrift.Approve;

    /// <summary>Refuse boots whose event log carries no kernel measurement (legacy BIOS).</summary>
    public bool RequireMeasuredKernel { get; init; }

    /// <summary>
    /// Refuse (quarantine) boots whose PCR 7 does not show Secure Boot on (the <c>SecureBoot</c> variable
    /// measured as 1); a profile's <c>requireSecureBoot</c> overrides it for the nodes it matches.
    /// </summary>
    public bool RequireSecureBoot { get; init; }

    /// <summary>How long a challenge (session and nonce) stays valid.</summary>
    public TimeSpan SessionLifetime { get; init; } = TimeSpan.FromMinutes(5);

    internal static AttestationSettings Read(SettingsReader r)
    {
        var policy = r.Enum("Attestation:EnrollmentPolicy", EnrollmentPolicy.Approve);
        var rootsDir = r.OptionalString("Attestation:EkRootsDir");
        if (rootsDir is not null && !Directory.Exists(rootsDir))
        {
            r.AddError("Attestation:EkRootsDir", rootsDir, "allowed: an existing directory of EK root and intermediate certificates");
        }

        if (policy == EnrollmentPolicy.Auto && rootsDir is null)
        {
            r.AddError("Attestation:EkRootsDir", null, "required when Attestation:EnrollmentPolicy is Auto: the directory of trusted EK roots");
        }

        var pcrs = new List<int>();
        var pcrTexts = r.StringList("Attestation:Pcrs");
        foreach (var text in pcrTexts)
        {
            if (int.TryParse(text, out var pcr) && pcr is >= 0 and <= 23 && !pcrs.Contains(pcr))
            {
                pcrs.Add(pcr);
            }
            else
            {
                r.AddError("Attestation:Pcrs", text, "allowed: distinct PCR indices from 0 to 23");
            }
        }

        return new AttestationSettings
        {
            EnrollmentPolicy = policy,
            EkRootsDir = rootsDir is null ? null : Path.GetFullPath(rootsDir),
            Pcrs = pcrTexts.Count == 0 ? [0, 1, 2, 3, 4, 5, 6, 7, 9] : pcrs.Order().ToList(),
            RequireMeasuredKernel = r.Bool("Attestation:RequireMeasuredKernel", false),
            RequireSecureBoot = r.Bool("Attestation:RequireSecureBoot", false),
            FirmwareDrift = r.Enum("Attestation:FirmwareDrift", FirmwareDrift.Approve),
            SessionLifetime = r.Duration("Attestation:SessionLifetime", TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(10), TimeSpan.FromHours(1)),
        };
    }
}
