using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>
/// Load balancing (RFC 3074): which requests belong to the peer while it is alive, by the client's
/// hash bucket (<see cref="HashBuckets"/> holds this server's half).
/// </summary>
internal sealed class DhcpPeerClients(HashBuckets buckets, DhcpAddressAllocator allocator)
{
    /// <summary>True when <paramref name="request"/> is balanced and its client hashes into the peer's buckets.</summary>
    public bool IsPeers(DhcpMessage request, DhcpMessageType type) =>
        IsBalanced(request, type) && !buckets.Contains(ClientHash.Of(request));

    /// <summary>
    /// RFC 3074 section 5: which messages are load balanced by the client's bucket. A DISCOVER, an INFORM,
    /// and a REQUEST that names no server: INIT-REBOOT (no ciaddr), and REBINDING (ciaddr, broadcast).
    /// A REQUEST naming a server (SELECTING), a DECLINE and a RELEASE go to the server they name. The
    /// transport does not say whether a REQUEST with ciaddr was unicast (RENEWING) or broadcast
    /// (REBINDING), so one whose lease this server knows for that client is answered whatever its
    /// bucket: a client this server bound while its peer was silent keeps renewing here, and two ACKs
    /// of one lease to one client grant nothing twice.
    /// </summary>
    private bool IsBalanced(DhcpMessage request, DhcpMessageType type)
    {
        if (type is DhcpMessageType.Discover or DhcpMessageType.Inform)
        {
            return true;
        }

        if (type != DhcpMessageType.Request || request.Options.GetAddress(DhcpOptionCode.ServerIdentifier) is not null)
        {
            return false;
        }

        return request.ClientAddress.IsAny
            || !(allocator.TryGetLease(request.ClientAddress, out var lease) && lease.ClientId == DhcpClientIdentity.Of(request) && lease.State == DhcpLeaseState.Active);
    }
}
