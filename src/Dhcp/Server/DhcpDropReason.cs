namespace Kldload.Dhcp.Server;

/// <summary>Why the engine sent nothing for a datagram. Counted per reason for metrics.</summary>
public enum DhcpDropReason : byte
{
    /// <summary>The datagram is not a well-formed DHCP message (see <see cref="Protocol.DhcpReadError"/>).</summary>
    Malformed = 0,

    /// <summary>A BOOTREPLY, or a message type a server never receives (OFFER, ACK, NAK).</summary>
    NotARequest,

    /// <summary>No configured subnet matches the link (giaddr or the server's own subnet).</summary>
    NoSubnet,

    /// <summary>Every address of the pool is leased, offered or declined.</summary>
    PoolExhausted,

    /// <summary>The table of pending offers was full (DISCOVER flood): the oldest offer was evicted. Counted, the new DISCOVER is still answered.</summary>
    OfferTableFull,

    /// <summary>A REQUEST or DECLINE meant for another server, or a REQUEST we have no record of.</summary>
    NotForUs,

    /// <summary>Proxy mode: the client is not a PXE/HTTP/iPXE client.</summary>
    NotBootClient,

    /// <summary>The datagram arrived on a port the mode does not answer on.</summary>
    WrongPort,

    /// <summary>
    /// Full mode: an option kept with the lease (61 client identifier, 12 host name, 82 relay agent
    /// information) is longer than one option can carry (255 bytes, RFC 2132 section 2), which only
    /// RFC 3396 concatenation produces. Refused rather than leased: such a value is no identity a
    /// client could present consistently, and the lease and its journal record stay bounded.
    /// </summary>
    OversizedOption,

    /// <summary>
    /// Load balancing (RFC 3074): the client hashes to the peer's buckets and the peer is alive, so the
    /// peer answers it.
    /// </summary>
    PeerClient,

    /// <summary>
    /// An ACK withheld because the shared lease table refused its lease: another client holds the
    /// address there (a peer granted it first). The client starts over and is offered another address.
    /// </summary>
    LeaseConflict,
}
