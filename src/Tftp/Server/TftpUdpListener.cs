using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Kldload.Tftp.Transfer;

namespace Kldload.Tftp.Server;

/// <summary>
/// Runs a <see cref="TftpServer"/> on real UDP sockets: one socket on the configured endpoint
/// receives requests; each transfer gets its own socket on an ephemeral port (its TID, RFC 1350
/// section 4), bound to the same address, and a receive loop that feeds its ACKs to the transfer.
/// Receives use <see cref="SocketAddress"/> buffers and pooled arrays, so a steady transfer
/// allocates nothing per packet.
/// </summary>
public sealed class TftpUdpListener : IAsyncDisposable
{
    private const int RequestBufferSize = 65536;
    private const int TransferBufferSize = 2048;
    private const int RequestSocketReceiveBuffer = 4 * 1024 * 1024;
    private const int ReceiverStackSize = 256 * 1024;

    private readonly IPEndPoint _endpoint;
    private readonly TftpServer _server;
    private readonly TftpServerObserver _observer;
    private readonly ConcurrentDictionary<TftpReadTransfer, Socket> _transfers = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Func<ITftpTransport> _openTransferPort;
    private Socket? _socket;
    private UdpTransport? _requestTransport;
    private Socket? _pendingTransferSocket;
    private Task _loop = Task.CompletedTask;

    public TftpUdpListener(IPEndPoint endpoint, TftpServer server, TftpServerObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(server);
        _endpoint = endpoint;
        _server = server;
        _observer = observer ?? TftpServerObserver.None;
        _openTransferPort = OpenTransferPort;
    }

    /// <summary>The bound endpoint (the actual port when the configured one was 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)(_socket?.LocalEndPoint ?? throw new InvalidOperationException("not started"));

    /// <summary>Transfers running now.</summary>
    public int ActiveTransfers => _transfers.Count;

    /// <summary>Binds the request socket (throws <see cref="SocketException"/> when it cannot) and starts receiving.</summary>
    public void Start()
    {
        var socket = new Socket(_endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (_endpoint.AddressFamily == AddressFamily.InterNetworkV6 && _endpoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            // A boot storm sends hundreds of requests at once: let the kernel queue them.
            socket.ReceiveBufferSize = RequestSocketReceiveBuffer;
            socket.Bind(_endpoint);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _socket = socket;
        _requestTransport = new UdpTransport(socket);
        _loop = Task.Run(ReceiveRequestsAsync);
    }

    /// <summary>Stops receiving requests and ends running transfers (clients get ERROR 0).</summary>
    public async Task StopAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        foreach (var transfer in _transfers.Keys)
        {
            transfer.Cancel();
        }

        await _loop.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task ReceiveRequestsAsync()
    {
        var socket = _socket!;
        var buffer = ArrayPool<byte>.Shared.Rent(RequestBufferSize);
        var address = new SocketAddress(socket.AddressFamily);
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                int received;
                try
                {
                    received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, address, _stopping.Token).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    continue;
                }

                HandleRequest(buffer.AsSpan(0, received), address);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void HandleRequest(ReadOnlySpan<byte> datagram, SocketAddress client)
    {
        try
        {
            var transfer = _server.HandleRequest(datagram, client, _requestTransport!, _openTransferPort);
            var socket = _pendingTransferSocket;
            _pendingTransferSocket = null;
            if (transfer is null)
            {
                socket?.Dispose();
                return;
            }

            _transfers[transfer] = socket!;

            // A blocking receive on a thread of its own: an ACK is answered on the thread that got
            // it, without the thread-pool hop an async receive takes. Lock-step transfers wait for
            // every ACK, so that hop would cost throughput; a blocked thread costs only its stack.
            var thread = new Thread(static state => ((Receiver)state!).Run(), ReceiverStackSize)
            {
                IsBackground = true,
                Name = "tftp-transfer",
            };
            thread.Start(new Receiver(this, transfer, socket!));
        }
        catch (Exception e)
        {
            // One bad datagram must never stop the listener.
            _pendingTransferSocket?.Dispose();
            _pendingTransferSocket = null;
            _observer.ListenerFault(e);
        }
    }

    private UdpTransport OpenTransferPort()
    {
        var socket = new Socket(_endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (socket.AddressFamily == AddressFamily.InterNetworkV6 && _endpoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(_endpoint.Address, 0));
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _pendingTransferSocket = socket;
        return new UdpTransport(socket);
    }

    private sealed class Receiver(TftpUdpListener listener, TftpReadTransfer transfer, Socket socket)
    {
        public void Run()
        {
            // Close the port as soon as the transfer ends, which also ends the blocked receive.
            _ = transfer.Completion.ContinueWith(static (_, s) => ((Socket)s!).Dispose(), socket, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            var buffer = ArrayPool<byte>.Shared.Rent(TransferBufferSize);
            var address = new SocketAddress(socket.AddressFamily);
            try
            {
                while (!transfer.Completion.IsCompleted)
                {
                    int received;
                    try
                    {
                        received = socket.ReceiveFrom(buffer, SocketFlags.None, address);
                    }
                    catch (SocketException) when (!transfer.Completion.IsCompleted)
                    {
                        continue;
                    }

                    try
                    {
                        transfer.OnDatagram(buffer.AsSpan(0, received), address);
                    }
                    catch (Exception e)
                    {
                        listener._observer.ListenerFault(e);
                    }
                }
            }
            catch (ObjectDisposedException)
            {
            }
            catch (SocketException)
            {
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
                listener._transfers.TryRemove(transfer, out _);
                socket.Dispose();
            }
        }
    }
}
