namespace Kldload.Dhcp.LoadBalancing;

/// <summary>
/// The liveness signal between two load-balancing servers: each records a beat every second in a place
/// both can read (a database row) and asks how old the peer's last beat is. Ages are measured by the
/// shared store's clock, never by comparing two machines' clocks.
/// </summary>
public interface IDhcpPeerHeartbeat
{
    /// <summary>
    /// Records this server's beat and returns whether the peer's last beat is younger than the peer
    /// timeout (false when the peer has never beaten). Throws when the store cannot be reached.
    /// </summary>
    bool Beat();
}
