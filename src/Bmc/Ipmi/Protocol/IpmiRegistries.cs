namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>RMCP+ payload types (IPMI 2.0 table 13-16), the low six bits of the payload type byte.</summary>
public enum IpmiPayloadType : byte
{
    IpmiMessage = 0x00,
    OpenSessionRequest = 0x10,
    OpenSessionResponse = 0x11,
    Rakp1 = 0x12,
    Rakp2 = 0x13,
    Rakp3 = 0x14,
    Rakp4 = 0x15,
}

/// <summary>RMCP+ and RAKP message status codes (IPMI 2.0 table 13-15).</summary>
public enum RmcpPlusStatus : byte
{
    NoErrors = 0x00,
    InsufficientResources = 0x01,
    InvalidSessionId = 0x02,
    InvalidPayloadType = 0x03,
    InvalidAuthenticationAlgorithm = 0x04,
    InvalidIntegrityAlgorithm = 0x05,
    NoMatchingAuthenticationPayload = 0x06,
    NoMatchingIntegrityPayload = 0x07,
    InactiveSessionId = 0x08,
    InvalidRole = 0x09,
    UnauthorizedRole = 0x0A,
    InsufficientResourcesForRole = 0x0B,
    InvalidNameLength = 0x0C,
    UnauthorizedName = 0x0D,
    UnauthorizedGuid = 0x0E,
    InvalidIntegrityCheckValue = 0x0F,
    InvalidConfidentialityAlgorithm = 0x10,
    NoCipherSuiteMatch = 0x11,
    IllegalParameter = 0x12,
}

/// <summary>Network function codes (IPMI 2.0 table 5-1); responses use the request's code plus one.</summary>
public enum IpmiNetFn : byte
{
    Chassis = 0x00,
    App = 0x06,
}

/// <summary>Privilege levels (IPMI 2.0 table 6-1 / section 22.13).</summary>
public enum IpmiPrivilege : byte
{
    Callback = 0x01,
    User = 0x02,
    Operator = 0x03,
    Administrator = 0x04,
}

/// <summary>RAKP authentication algorithms (IPMI 2.0 table 13-17).</summary>
public enum IpmiAuthenticationAlgorithm : byte
{
    None = 0x00,
    HmacSha1 = 0x01,
    HmacMd5 = 0x02,
    HmacSha256 = 0x03,
}

/// <summary>Integrity algorithms (IPMI 2.0 table 13-18).</summary>
public enum IpmiIntegrityAlgorithm : byte
{
    None = 0x00,
    HmacSha1_96 = 0x01,
    HmacMd5_128 = 0x02,
    Md5_128 = 0x03,
    HmacSha256_128 = 0x04,
}

/// <summary>Confidentiality algorithms (IPMI 2.0 table 13-19).</summary>
public enum IpmiConfidentialityAlgorithm : byte
{
    None = 0x00,
    AesCbc128 = 0x01,
    Xrc4_128 = 0x02,
    Xrc4_40 = 0x03,
}

/// <summary>The commands kldload sends, by network function (IPMI 2.0 appendix G).</summary>
public static class IpmiCommand
{
    public const byte GetChassisStatus = 0x01;
    public const byte ChassisControl = 0x02;
    public const byte SetSystemBootOptions = 0x08;
    public const byte GetSystemBootOptions = 0x09;
    public const byte GetSystemGuid = 0x37;
    public const byte GetChannelAuthenticationCapabilities = 0x38;
    public const byte SetSessionPrivilegeLevel = 0x3B;
    public const byte CloseSession = 0x3C;
}
