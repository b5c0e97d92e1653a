namespace Kldload.Dhcp.Dhcp6.Server;

/// <summary>Why the DHCPv6 engine sent nothing for a datagram. Counted per reason for metrics.</summary>
public enum Dhcp6DropReason : byte
{
    /// <summary>Not well-formed DHCPv6 (see <see cref="Protocol.Dhcp6ReadError"/>).</summary>
    Malformed = 0,

    /// <summary>A type only servers send (ADVERTISE, REPLY, RECONFIGURE, RELAY-REPL).</summary>
    NotARequest,

    /// <summary>
    /// A message breaks RFC 8415 section 16's rules for its type: no Client Identifier, or a Server
    /// Identifier where none may be (SOLICIT, CONFIRM, REBIND) or none where one must be.
    /// </summary>
    InvalidMessage,

    /// <summary>The Server Identifier names another server.</summary>
    NotForUs,

    /// <summary>No configured subnet is on the client's link.</summary>
    NoSubnet,

    /// <summary>Proxy mode: the client is not a network boot client.</summary>
    NotBootClient,

    /// <summary>A RENEW, REBIND or RELEASE for an IA kldload has no binding for, with nothing to say (RFC 8415 section 18.3.5: REBIND is dropped).</summary>
    NoBinding,

    /// <summary>A CONFIRM with no addresses: RFC 8415 section 18.3.3 says not to answer.</summary>
    NothingToConfirm,
}
