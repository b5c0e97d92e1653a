using System.Net;

namespace Kldload.Dhcp.Server;

/// <summary>One received datagram. <see cref="Buffer"/> is owned by the transport until the next receive.</summary>
public readonly record struct DhcpDatagram(byte[] Buffer, int Length, IPEndPoint Source, int LocalPort);

/// <summary>
/// The sockets under a <see cref="DhcpServer"/>: UDP on one interface in the host, an in-memory queue
/// in tests. Several local ports (67 and 4011 in proxy mode) may share one transport.
/// </summary>
public interface IDhcpTransport
{
    /// <summary>Waits for the next datagram.</summary>
    ValueTask<DhcpDatagram> ReceiveAsync(CancellationToken cancellationToken);

    /// <summary>Returns a datagram only if one is already queued (used to batch lease flushes).</summary>
    bool TryReceive(out DhcpDatagram datagram);

    /// <summary>Sends <paramref name="payload"/> from local port <paramref name="localPort"/>.</summary>
    void Send(ReadOnlySpan<byte> payload, IPEndPoint destination, int localPort);
}
