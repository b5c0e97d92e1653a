namespace Kldload.Dhcp.Options;

/// <summary>
/// Option codes used by kldload (IANA "BOOTP Vendor Extensions and DHCP Options"; RFC 2132 unless
/// noted). Codes not listed here are still carried through a read/write round trip.
/// </summary>
public enum DhcpOptionCode : byte
{
    Pad = 0,
    SubnetMask = 1,
    Router = 3,
    DomainNameServer = 6,
    HostName = 12,
    DomainName = 15,

    /// <summary>Vendor-specific information; PXE sub-options inside (PXE 2.1 section 2.4).</summary>
    VendorSpecific = 43,
    RequestedIPAddress = 50,
    IPAddressLeaseTime = 51,
    OptionOverload = 52,
    MessageType = 53,
    ServerIdentifier = 54,
    ParameterRequestList = 55,
    Message = 56,
    MaximumMessageSize = 57,
    RenewalTime = 58,
    RebindingTime = 59,
    VendorClassIdentifier = 60,
    ClientIdentifier = 61,
    TftpServerName = 66,
    BootFileName = 67,

    /// <summary>User class (RFC 3004); iPXE sends "iPXE".</summary>
    UserClass = 77,

    /// <summary>Relay agent information (RFC 3046).</summary>
    RelayAgentInformation = 82,

    /// <summary>Client system architecture (RFC 4578 section 2.1).</summary>
    ClientArchitecture = 93,

    /// <summary>Client network interface identifier (RFC 4578 section 2.2).</summary>
    ClientNetworkInterfaceId = 94,

    /// <summary>Client machine identifier, the SMBIOS UUID (RFC 4578 section 2.3).</summary>
    ClientMachineId = 97,

    /// <summary>iPXE encapsulated options (iPXE's use of a site-specific code).</summary>
    IpxeEncapsulated = 175,
    End = 255,
}
