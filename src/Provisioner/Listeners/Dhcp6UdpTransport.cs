using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Server;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// The DHCPv6 socket on one interface: UDP <c>[::]:547</c>, IPv6 only, pinned to the interface with
/// SO_BINDTODEVICE and joined to All_DHCP_Relay_Agents_and_Servers (ff02::1:2, RFC 8415 section 7.1)
/// there. Clients send from link-local addresses; the receive keeps their zone, so replies go back
/// out of the same interface. Relays send unicast to the same port.
/// </summary>
internal sealed class Dhcp6UdpTransport : IDhcpTransport, IDisposable
{
    private const int SolSocket = 1;
    private const int SoBindToDevice = 25;
    private const int ReceiveBufferBytes = 8 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly Channel<DhcpDatagram> _queue = Channel.CreateBounded<DhcpDatagram>(new BoundedChannelOptions(16384)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private long _queueOverflows;
    private int _disposed;

    /// <summary>Binds or throws <see cref="SocketException"/>; the caller maps it to a setting.</summary>
    public Dhcp6UdpTransport(string interfaceName, int interfaceIndex, int port)
    {
        _socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            _socket.DualMode = false;
            _socket.SetRawSocketOption(SolSocket, SoBindToDevice, Encoding.ASCII.GetBytes(interfaceName + "\0"));
            _socket.ReceiveBufferSize = ReceiveBufferBytes;
            _socket.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
            _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.AddMembership, new IPv6MulticastOption(Dhcp6Engine.AllRelayAgentsAndServers, interfaceIndex));
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
    }

    /// <summary>Datagrams dropped because the queue was full (the engine could not keep up).</summary>
    public long QueueOverflows => Interlocked.Read(ref _queueOverflows);

    public void Start() => _loop = Task.Run(ReceiveLoop);

    private async Task ReceiveLoop()
    {
        var buffer = new byte[65536];
        EndPoint any = new IPEndPoint(IPAddress.IPv6Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult result;
            try
            {
                result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // ICMP errors from earlier sends surface here on Linux; keep receiving.
                continue;
            }

            var datagram = new DhcpDatagram(buffer.AsSpan(0, result.ReceivedBytes).ToArray(), result.ReceivedBytes, (IPEndPoint)result.RemoteEndPoint, Dhcp6Engine.ServerPort);
            if (!_queue.Writer.TryWrite(datagram))
            {
                Interlocked.Increment(ref _queueOverflows);
            }
        }
    }

    public ValueTask<DhcpDatagram> ReceiveAsync(CancellationToken cancellationToken) => _queue.Reader.ReadAsync(cancellationToken);

    public bool TryReceive(out DhcpDatagram datagram) => _queue.Reader.TryRead(out datagram);

    public void Send(ReadOnlySpan<byte> payload, IPEndPoint destination, int localPort) => _socket.SendTo(payload, SocketFlags.None, destination);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        _socket.Dispose();
        try
        {
            _loop?.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
            // The loop ends with the socket; nothing to report.
        }

        _stop.Dispose();
    }
}
