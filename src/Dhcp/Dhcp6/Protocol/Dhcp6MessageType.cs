namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>DHCPv6 message types (RFC 8415 section 7.3; IANA "DHCPv6 Message Types").</summary>
public enum Dhcp6MessageType : byte
{
    Solicit = 1,
    Advertise = 2,
    Request = 3,
    Confirm = 4,
    Renew = 5,
    Rebind = 6,
    Reply = 7,
    Release = 8,
    Decline = 9,
    Reconfigure = 10,
    InformationRequest = 11,
    RelayForward = 12,
    RelayReply = 13,
}
