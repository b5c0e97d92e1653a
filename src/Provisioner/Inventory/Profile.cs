using LiteDB;

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
    /// hold (<c>facts.memory.totalGiB >= 256</c>; grammar in <see cref="Boot.FactsExpression"/>). The
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

/// <summary>Assigns an image, kernel arguments and an enrollment policy to the nodes it matches.</summary>
public sealed class Profile
{
    /// <summary>Unique name (letters, digits, '-', '_', '.').</summary>
    [BsonId]
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

    /// <summary>Overrides <c>Attestation:EnrollmentPolicy</c> for the nodes it matches (Approve, Auto, Lab).</summary>
    public string? EnrollmentPolicy { get; set; }
}
