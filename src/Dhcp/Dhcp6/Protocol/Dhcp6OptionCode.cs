namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>
/// DHCPv6 option codes kldload reads or writes (RFC 8415 section 21 unless noted; IANA "DHCPv6
/// Option Codes"). Any other code survives a read/write round trip as raw bytes.
/// </summary>
public enum Dhcp6OptionCode : ushort
{
    ClientId = 1,
    ServerId = 2,
    IaNa = 3,
    IaTa = 4,
    IaAddress = 5,
    OptionRequest = 6,
    Preference = 7,
    ElapsedTime = 8,
    RelayMessage = 9,
    Authentication = 11,
    ServerUnicast = 12,
    StatusCode = 13,
    RapidCommit = 14,
    UserClass = 15,
    VendorClass = 16,
    VendorOptions = 17,
    InterfaceId = 18,
    ReconfigureMessage = 19,
    ReconfigureAccept = 20,

    /// <summary>RFC 3646 section 3.</summary>
    DnsServers = 23,

    /// <summary>RFC 3646 section 4.</summary>
    DomainList = 24,
    IaPd = 25,
    IaPrefix = 26,
    InformationRefreshTime = 32,

    /// <summary>Relay agent remote-id (RFC 4649 section 3).</summary>
    RemoteId = 37,

    /// <summary>RFC 5970 section 3.1.</summary>
    BootFileUrl = 59,

    /// <summary>RFC 5970 section 3.2.</summary>
    BootFileParameters = 60,

    /// <summary>RFC 5970 section 3.3.</summary>
    ClientArchitecture = 61,

    /// <summary>Client network interface identifier (RFC 5970 section 3.4).</summary>
    NetworkInterfaceId = 62,

    /// <summary>Client link-layer address, added by a first-hop relay (RFC 6939 section 4).</summary>
    ClientLinkLayerAddress = 79,
    SolMaxRt = 82,
}
