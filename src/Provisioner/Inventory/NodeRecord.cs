using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Inventory;

/// <summary>Where a relayed node sits: DHCP option 82 (RFC 3046) as the relay reported it, hex.</summary>
public sealed class RelayLocation
{
    public string? CircuitId { get; set; }

    public string? RemoteId { get; set; }

    /// <summary>For people: <c>circuit-id Gi1/0/7 remote-id sw12</c>, printable values as text, others as <c>hex:..</c>.</summary>
    public string Describe() => string.Join(' ', new[]
    {
        CircuitId is { } c ? "circuit-id " + Text(c) : null,
        RemoteId is { } r ? "remote-id " + Text(r) : null,
    }.OfType<string>());

    private static string Text(string hex)
    {
        try
        {
            return Kldload.Dhcp.Server.RelayIdMatch.Describe(Convert.FromHexString(hex));
        }
        catch (FormatException)
        {
            return hex;
        }
    }
}

/// <summary>An image pinned by name and version (instead of following a channel).</summary>
public sealed class ImageRef
{
    public string Name { get; set; } = string.Empty;

    public string Version { get; set; } = string.Empty;

    public override string ToString() => $"{Name} {Version}";
}

/// <summary>One racked node as the inventory keeps it (LiteDB collection <c>nodes</c>).</summary>
public sealed class NodeRecord : IKldloadDocument
{
    /// <summary>Stable id, 12 lowercase hex characters.</summary>
    public string Id { get; set; } = string.Empty;

    public string Name { get; set; } = string.Empty;

    /// <summary>Lowercase, colon-separated.</summary>
    public List<string> Macs { get; set; } = [];

    /// <summary>SMBIOS system UUID, lowercase.</summary>
    public string? Uuid { get; set; }

    public string? Serial { get; set; }

    public string? Manufacturer { get; set; }

    public string? Product { get; set; }

    /// <summary>iPXE's <c>${buildarch}</c> (x86_64, arm64, i386).</summary>
    public string? Architecture { get; set; }

    /// <summary>iPXE's <c>${platform}</c> (pcbios, efi).</summary>
    public string? Platform { get; set; }

    /// <summary>TPM2B_PUBLIC of the EK, base64.</summary>
    public string? EkPublic { get; set; }

    /// <summary>SHA-256 of the EK's TPMT_PUBLIC, lowercase hex.</summary>
    public string? EkFingerprint { get; set; }

    /// <summary>DER, base64.</summary>
    public string? EkCertificate { get; set; }

    /// <summary>True once an operator (or the enrollment policy) accepted this EK.</summary>
    public bool EkApproved { get; set; }

    /// <summary>TPM2B_PUBLIC of the AK last activated, base64.</summary>
    public string? AkPublic { get; set; }

    public string? WireGuardPublicKey { get; set; }

    /// <summary>Mesh IPv6 address, bare (no prefix length).</summary>
    public string? MeshAddress { get; set; }

    public string? MeshAddress4 { get; set; }

    /// <summary>Profile that matched at the last boot.</summary>
    public string? Profile { get; set; }

    /// <summary>
    /// Burn-in seconds the last boot script asked for (<c>kldload.burnin=N</c>, from the profile's
    /// <c>commission.burnIn</c>); null = none. Ready needs a burn-in result when set.
    /// </summary>
    public int? BurnInSeconds { get; set; }

    /// <summary>Image channel assigned to this node; null = its profile's or the default.</summary>
    public string? Channel { get; set; }

    /// <summary>Image pinned to this node; wins over any channel.</summary>
    public ImageRef? PinnedImage { get; set; }

    public NodeState State { get; set; } = NodeState.Discovered;

    /// <summary>Why the node is in its state (quarantine reason, operator note).</summary>
    public string? StateReason { get; set; }

    public DateTime FirstSeenAt { get; set; }

    public DateTime LastSeenAt { get; set; }

    /// <summary>When the current boot started (first DHCP packet seen, else the iPXE script request).</summary>
    public DateTime? BootStartedAt { get; set; }

    /// <summary>Set when an attestation of that boot completes.</summary>
    public DateTime? LastBootAt { get; set; }

    /// <summary>Seconds from the first DHCP packet of the last boot to mesh-ready.</summary>
    public double? LastBootToMeshSeconds { get; set; }

    /// <summary>Image (name version) and kernel digest served at the last boot.</summary>
    public ImageRef? LastBootedImage { get; set; }

    public string? LastBootedKernelDigest { get; set; }

    /// <summary>Digest of the image the last successful attestation proved.</summary>
    public string? LastAttestedImageDigest { get; set; }

    /// <summary>Whether the last attested boot's event log measured the kernel (legacy BIOS does not).</summary>
    public bool? KernelMeasured { get; set; }

    /// <summary>Whether PCR 9 of the last attested boot measured the command line kldload served.</summary>
    public bool? CommandLineMeasured { get; set; }

    /// <summary>Whether PCR 7 of the last attested boot showed Secure Boot on; null when not known.</summary>
    public bool? SecureBoot { get; set; }

    /// <summary>The authorities PCR 7 of the last attested boot says verified what was started (db, shim's vendor certificate, MOK).</summary>
    public List<string>? SecureBootSigners { get; set; }

    /// <summary>Whether PCR 9 of the last attested boot measured the initrd kldload served (LoadFile2 loaders only).</summary>
    public bool? InitrdMeasured { get; set; }

    /// <summary>Firmware PCRs (0, 2, 7, SHA-256 hex) pinned at the first attestation; a change is drift.</summary>
    public Dictionary<int, string>? PinnedPcrs { get; set; }

    /// <summary>Configuration PCRs (1, 3, 5, 6) of the last attestation: recorded, not pinned.</summary>
    public Dictionary<int, string>? ConfigurationPcrs { get; set; }

    /// <summary>
    /// The hardware facts of the last attested boot, as the node sent them (RFC 8785 canonical JSON);
    /// earlier ones are in <c>node_facts</c>. Only bound facts (<see cref="HardwareFactsBound"/>) are
    /// compared and matched by profiles.
    /// </summary>
    public string? HardwareFacts { get; set; }

    /// <summary>Whether the TPM quote bound <see cref="HardwareFacts"/> (false: sent beside a quote of the older form).</summary>
    public bool HardwareFactsBound { get; set; }

    public DateTime? HardwareFactsAt { get; set; }

    public RelayLocation? Location { get; set; }

    public Dictionary<string, string> Labels { get; set; } = [];

    /// <summary>For a Replaced node: the node that took its identity; for the new one: the node it replaced.</summary>
    public string? ReplacedBy { get; set; }

    public string? Replaces { get; set; }

    /// <summary>
    /// The next boots carry <c>kldload.repin=1</c>, so the agent pins this provisioner's mesh CA anew
    /// (after <c>nodes replace</c> or <c>nodes repin</c>); cleared when the node attests.
    /// </summary>
    public bool RepinPending { get; set; }

    /// <summary>WireGuard key epoch the node derives (<c>kldload/wg/v1/epoch=N</c>); bumping it rotates the key.</summary>
    public uint Epoch { get; set; }

    /// <summary>
    /// The id MeshCA knows this node by (address, certificate, roster). It is the node's own id, except
    /// after a replace, when new hardware carries on the identity of the node it replaced.
    /// </summary>
    public string? MeshIdentity { get; set; }

    /// <summary>The last power state read from the node's BMC ("On", "Off", "Unknown"); null when never read.</summary>
    public string? PowerState { get; set; }

    /// <summary>When <see cref="PowerState"/> was read.</summary>
    public DateTime? PowerStateAt { get; set; }

    /// <summary>The MeshCA identity in force: <see cref="MeshIdentity"/>, else <see cref="Id"/>. Derived, never stored.</summary>
    public string EffectiveMeshIdentity => MeshIdentity ?? Id;
}
