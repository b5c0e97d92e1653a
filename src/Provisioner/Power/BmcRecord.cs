namespace Kldload.Provisioner.Power;

/// <summary>The protocols a node's BMC may speak.</summary>
public enum BmcProtocol
{
    Ipmi,
    Redfish,
}

/// <summary>
/// A node's BMC (<see cref="IBmcStore"/>, keyed by node id). The password is stored sealed
/// (<see cref="BmcCredentialKey"/>) and never leaves the server.
/// </summary>
public sealed class BmcRecord
{
    /// <summary>The node id.</summary>
    public string Id { get; set; } = string.Empty;

    public BmcProtocol Protocol { get; set; }

    /// <summary>IPMI: host name or address. Redfish: the service's base URL.</summary>
    public string Address { get; set; } = string.Empty;

    /// <summary>IPMI UDP port (623 by default); unused for Redfish (the URL carries it).</summary>
    public int Port { get; set; }

    public string User { get; set; } = string.Empty;

    public string SealedPassword { get; set; } = string.Empty;

    /// <summary>Redfish ComputerSystem id.</summary>
    public string? SystemId { get; set; }

    /// <summary>Redfish: the pinned SHA-256 certificate fingerprint.</summary>
    public string? Fingerprint { get; set; }

    /// <summary>The system UUID the BMC reported when it was set (pairing check).</summary>
    public string? BmcUuid { get; set; }

    /// <summary>Why the pairing check warned, or null when the UUIDs agree or could not be compared.</summary>
    public string? PairingWarning { get; set; }

    public DateTime UpdatedAt { get; set; }

    public string Describe() => Protocol == BmcProtocol.Ipmi
        ? $"ipmi {Address}:{Port} user {User}"
        : $"redfish {Address} system {SystemId} user {User}";
}
