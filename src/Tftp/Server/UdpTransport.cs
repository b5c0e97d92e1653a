using System.Net;
using System.Net.Sockets;
using Kldload.Tftp.Transfer;

namespace Kldload.Tftp.Server;

/// <summary>Sends datagrams from one UDP socket with the allocation-free SocketAddress API.</summary>
internal sealed class UdpTransport(Socket socket) : ITftpTransport
{
    public Socket Socket => socket;

    public void Send(ReadOnlySpan<byte> datagram, SocketAddress destination)
    {
        try
        {
            socket.SendTo(datagram, SocketFlags.None, destination);
        }
        catch (SocketException)
        {
            // A full send buffer or an ICMP error from an earlier datagram: the retransmission
            // timer covers a datagram that did not leave.
        }
        catch (ObjectDisposedException)
        {
            // The transfer ended and its port closed while a send was under way.
        }
    }
}
