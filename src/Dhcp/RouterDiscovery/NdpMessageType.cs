namespace Kldload.Dhcp.RouterDiscovery;

/// <summary>ICMPv6 types of router discovery (RFC 4861 section 4; IANA "ICMPv6 Parameters").</summary>
public enum NdpMessageType : byte
{
    /// <summary>Router Solicitation (RFC 4861 section 4.1).</summary>
    RouterSolicitation = 133,

    /// <summary>Router Advertisement (RFC 4861 section 4.2).</summary>
    RouterAdvertisement = 134,
}

/// <summary>Neighbor Discovery option types (RFC 4861 section 4.6; IANA "IPv6 Neighbor Discovery Option Formats").</summary>
public enum NdpOptionType : byte
{
    SourceLinkLayerAddress = 1,
    TargetLinkLayerAddress = 2,
    PrefixInformation = 3,
    RedirectedHeader = 4,
    Mtu = 5,

    /// <summary>Recursive DNS Server (RFC 8106 section 5.1).</summary>
    RecursiveDnsServer = 25,

    /// <summary>DNS Search List (RFC 8106 section 5.2).</summary>
    DnsSearchList = 31,
}

/// <summary>Why bytes are not a usable router discovery message (RFC 4861 sections 6.1.1 and 6.1.2).</summary>
public enum NdpReadError : byte
{
    None = 0,

    /// <summary>Shorter than the fixed part of the message (8 bytes for an RS, 16 for an RA).</summary>
    TooShort,

    /// <summary>The ICMPv6 type is not the one expected.</summary>
    WrongType,

    /// <summary>The ICMPv6 code is not 0.</summary>
    BadCode,

    /// <summary>An option has length 0, which RFC 4861 section 4.6 forbids (a receiver must discard the packet).</summary>
    ZeroLengthOption,

    /// <summary>An option's length runs past the end of the message.</summary>
    OptionTruncated,
}
