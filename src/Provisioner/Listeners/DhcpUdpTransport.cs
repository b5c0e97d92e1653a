using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Kldload.Dhcp.Server;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// UDP sockets for DHCP on one interface: each bound to <c>0.0.0.0:port</c> (broadcasts arrive only
/// there) and pinned to the interface with SO_BINDTODEVICE, so nothing is received from or sent to
/// any other interface. One receive loop per socket feeds a shared queue.
/// </summary>
internal sealed class DhcpUdpTransport : IDhcpTransport, IDisposable
{
    private const int SolSocket = 1;
    private const int SoBindToDevice = 25;
    private const int ReceiveBufferBytes = 8 * 1024 * 1024;

    private readonly Dictionary<int, Socket> _sockets = [];
    private readonly Channel<DhcpDatagram> _queue = Channel.CreateBounded<DhcpDatagram>(new BoundedChannelOptions(16384)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];

    private long _queueOverflows;

    /// <summary>Binds every port or throws <see cref="SocketException"/> naming none; the caller maps it to a setting.</summary>
    public DhcpUdpTransport(string interfaceName, IReadOnlyList<(int Port, string SettingKey)> ports, Action<string, int, SocketException> onBindFailure)
    {
        foreach (var (port, key) in ports)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                socket.SetRawSocketOption(SolSocket, SoBindToDevice, Encoding.ASCII.GetBytes(interfaceName + "\0"));
                socket.EnableBroadcast = true;
                socket.ReceiveBufferSize = ReceiveBufferBytes;
                socket.Bind(new IPEndPoint(IPAddress.Any, port));
            }
            catch (SocketException e)
            {
                socket.Dispose();
                Dispose();
                onBindFailure(key, port, e);
                throw;
            }

            _sockets[port] = socket;
        }
    }

    /// <summary>Datagrams dropped because the queue was full (the engine could not keep up).</summary>
    public long QueueOverflows => Interlocked.Read(ref _queueOverflows);

    public void Start()
    {
        foreach (var (port, socket) in _sockets)
        {
            _loops.Add(Task.Run(() => ReceiveLoop(socket, port)));
        }
    }

    private async Task ReceiveLoop(Socket socket, int port)
    {
        var buffer = new byte[2048];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult result;
            try
            {
                result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
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

            var datagram = new DhcpDatagram(buffer.AsSpan(0, result.ReceivedBytes).ToArray(), result.ReceivedBytes, (IPEndPoint)result.RemoteEndPoint, port);
            if (!_queue.Writer.TryWrite(datagram))
            {
                Interlocked.Increment(ref _queueOverflows);
            }
        }
    }

    public ValueTask<DhcpDatagram> ReceiveAsync(CancellationToken cancellationToken) => _queue.Reader.ReadAsync(cancellationToken);

    public bool TryReceive(out DhcpDatagram datagram) => _queue.Reader.TryRead(out datagram);

    public void Send(ReadOnlySpan<byte> payload, IPEndPoint destination, int localPort)
    {
        var socket = _sockets.TryGetValue(localPort, out var s) ? s : _sockets.Values.First();
        socket.SendTo(payload, SocketFlags.None, destination);
    }

    private int _disposed;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        foreach (var socket in _sockets.Values)
        {
            socket.Dispose();
        }

        try
        {
            Task.WaitAll(_loops.ToArray(), TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
            // Loops end with the sockets; nothing to report.
        }

        _stop.Dispose();
    }
}
