using System.Net;
using System.Net.Sockets;

namespace Kldload.Bmc.Ipmi;

/// <summary>The datagram path to one BMC; a test can stand in for it.</summary>
public interface IIpmiTransport : IAsyncDisposable
{
    ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken);

    /// <summary>Receives one datagram; throws <see cref="SocketException"/> when the port refused an earlier one.</summary>
    ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);
}

/// <summary>A UDP socket connected to the BMC's address, so only its datagrams arrive.</summary>
public sealed class UdpIpmiTransport : IIpmiTransport
{
    private readonly Socket _socket;

    private UdpIpmiTransport(Socket socket) => _socket = socket;

    public EndPoint RemoteEndPoint => _socket.RemoteEndPoint!;

    /// <summary>Resolves the host and connects a UDP socket to it (no datagram is sent yet).</summary>
    public static async Task<UdpIpmiTransport> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        IPAddress address;
        if (!IPAddress.TryParse(host, out address!))
        {
            IPAddress[] addresses;
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw new BmcException(BmcErrorKind.Unreachable, $"BMC host {host} does not resolve: {e.Message}", e);
            }

            address = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.First();
        }

        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new UdpIpmiTransport(socket);
    }

    public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken) =>
        new(_socket.SendAsync(datagram, SocketFlags.None, cancellationToken).AsTask());

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
