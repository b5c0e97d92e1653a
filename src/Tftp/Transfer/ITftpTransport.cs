using System.Net;

namespace Kldload.Tftp.Transfer;

/// <summary>
/// Sends datagrams from one local port. A transfer owns one (its TID, RFC 1350 section 4); the
/// well-known port has another for request-level errors. Implementations must not keep the span.
/// </summary>
public interface ITftpTransport
{
    void Send(ReadOnlySpan<byte> datagram, SocketAddress destination);
}
