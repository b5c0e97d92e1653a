using System.Net;
using System.Net.Sockets;

namespace Kldload.Testing.Network;

/// <summary>
/// A port on 127.0.0.1 that the kernel just handed out and that is free again when returned, for a
/// process or setting that must be told its port in advance (a child process, a <c>--urls</c>).
/// Another process may take it in between: callers that can bind port 0 themselves should.
/// </summary>
public static class FreePort
{
    /// <summary>A free TCP port on 127.0.0.1.</summary>
    public static int Tcp() => Of(SocketType.Stream, ProtocolType.Tcp);

    /// <summary>A free UDP port on 127.0.0.1.</summary>
    public static int Udp() => Of(SocketType.Dgram, ProtocolType.Udp);

    private static int Of(SocketType type, ProtocolType protocol)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, type, protocol);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
