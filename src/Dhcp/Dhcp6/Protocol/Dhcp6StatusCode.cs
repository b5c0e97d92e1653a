namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>Status codes carried in OPTION_STATUS_CODE (RFC 8415 section 21.13; IANA registry).</summary>
public enum Dhcp6StatusCode : ushort
{
    Success = 0,
    UnspecFail = 1,
    NoAddrsAvail = 2,
    NoBinding = 3,
    NotOnLink = 4,
    UseMulticast = 5,
    NoPrefixAvail = 6,
}
