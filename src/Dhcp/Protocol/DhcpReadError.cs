namespace Kldload.Dhcp.Protocol;

/// <summary>Why a datagram is not a usable DHCP message. Servers count drops by this reason.</summary>
public enum DhcpReadError : byte
{
    None = 0,

    /// <summary>Shorter than the 236-byte fixed header plus the 4-byte magic cookie.</summary>
    TooShort,

    /// <summary><c>op</c> is neither BOOTREQUEST nor BOOTREPLY.</summary>
    BadOp,

    /// <summary><c>hlen</c> is larger than the 16-byte <c>chaddr</c> field.</summary>
    BadHardwareLength,

    /// <summary>The first four option bytes are not 99.130.83.99 (RFC 2131 section 3).</summary>
    BadMagicCookie,

    /// <summary>An option's length runs past the end of its field.</summary>
    OptionTruncated,

    /// <summary>An options field has no End (255) option.</summary>
    MissingEnd,

    /// <summary>Option 52 has a value other than 1, 2 or 3, or a wrong length (RFC 2132 section 9.3).</summary>
    BadOverload,

    /// <summary>Option 53 is absent or not 1..8: a BOOTP packet, not DHCP.</summary>
    NoMessageType,
}
