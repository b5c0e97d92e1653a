using System.Net.Sockets;
using Kldload.Tpm.Errors;

namespace Kldload.Tpm.Transport;

/// <summary>
/// swtpm's TCP data port (<c>swtpm socket --server type=tcp,port=P</c>): raw TPM command bytes in,
/// raw response bytes out; the response length comes from its header. swtpm serves one client at a
/// time, so <see cref="Disconnect"/> lets another client (tpm2-tools) in between commands.
/// </summary>
public sealed class SwtpmTcpTransport : ITpmTransport
{
    private readonly string _host;
    private readonly int _port;
    private readonly TimeSpan _timeout;
    private TcpClient? _client;
    private NetworkStream? _stream;

    public SwtpmTcpTransport(string host, int port, TimeSpan? timeout = null)
    {
        _host = host;
        _port = port;
        _timeout = timeout ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>Closes the connection after every command (as tpm2-tss's swtpm TCTI does) when true.</summary>
    public bool ConnectionPerCommand { get; init; }

    public byte[] Transact(ReadOnlySpan<byte> command)
    {
        // One reconnect: swtpm drops the connection when another client took over or it restarted.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var stream = Connect();
                stream.Write(command);
                var header = new byte[TpmFraming.HeaderSize];
                stream.ReadExactly(header);
                var size = TpmFraming.ResponseSize(header);
                var response = new byte[size];
                header.CopyTo(response, 0);
                stream.ReadExactly(response.AsSpan(TpmFraming.HeaderSize));
                if (ConnectionPerCommand)
                {
                    Disconnect();
                }

                return response;
            }
            catch (Exception e) when (e is IOException or SocketException or EndOfStreamException)
            {
                Disconnect();
                if (attempt >= 1)
                {
                    throw new TpmTransportException($"swtpm at {_host}:{_port} failed: {e.Message}", e);
                }
            }
        }
    }

    private NetworkStream Connect()
    {
        if (_stream is not null)
        {
            return _stream;
        }

        var client = new TcpClient { NoDelay = true, ReceiveTimeout = (int)_timeout.TotalMilliseconds, SendTimeout = (int)_timeout.TotalMilliseconds };
        try
        {
            using var cts = new CancellationTokenSource(_timeout);
            client.ConnectAsync(_host, _port, cts.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException e)
        {
            client.Dispose();
            throw new TpmTransportException($"connecting to swtpm at {_host}:{_port} timed out", e);
        }
        catch
        {
            client.Dispose();
            throw;
        }

        _client = client;
        _stream = client.GetStream();
        return _stream;
    }

    /// <summary>Closes the connection; the next command reconnects.</summary>
    public void Disconnect()
    {
        _stream?.Dispose();
        _client?.Dispose();
        _stream = null;
        _client = null;
    }

    public void Dispose() => Disconnect();
}
