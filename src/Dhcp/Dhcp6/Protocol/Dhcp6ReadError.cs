namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>Why a datagram or an option is not usable DHCPv6. Servers count drops by this reason.</summary>
public enum Dhcp6ReadError : byte
{
    None = 0,

    /// <summary>Shorter than the 4-byte client/server header or the 34-byte relay header (RFC 8415 sections 8, 9).</summary>
    TooShort,

    /// <summary>The message type is 0 or above 13 (not in RFC 8415 section 7.3).</summary>
    UnknownMessageType,

    /// <summary>An option's length runs past the end of the message or of the option holding it.</summary>
    OptionTruncated,

    /// <summary>An option kldload reads has a length its format does not allow (for example IA_NA shorter than 12).</summary>
    BadOptionLength,

    /// <summary>A RELAY-FORW or RELAY-REPL carries no OPTION_RELAY_MSG (RFC 8415 section 9).</summary>
    MissingRelayMessage,

    /// <summary>Relay messages nested deeper than <see cref="Dhcp6RelayMessage.MaxHopCount"/> (RFC 8415 section 7.6, HOP_COUNT_LIMIT).</summary>
    TooManyRelays,
}
