using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Kldload.Agent.Resident;

/// <summary>
/// Serves <c>GET /metrics</c> (<see cref="NodeMetrics"/>) over plain HTTP/1.1 on one address: the
/// node's mesh address, so it answers through the tunnel and nowhere else. One request per
/// connection; anything but <c>GET /metrics</c> is 404. No ASP.NET: the agent is a small NativeAOT binary.
/// </summary>
internal sealed class MetricsListener(IPEndPoint endpoint, Func<string> render) : IDisposable
{
    private const int MaxRequest = 8192;
    private readonly TcpListener _listener = new(endpoint);

    public IPEndPoint LocalEndpoint => (IPEndPoint)_listener.LocalEndpoint;

    public void Start() => _listener.Start();

    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            _ = ServeAsync(client, ct);
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken ct)
    {
        using (client)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                var buffer = new byte[MaxRequest];
                var read = 0;
                while (read < buffer.Length)
                {
                    var n = await client.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    read += n;
                    if (buffer.AsSpan(0, read).IndexOf("\r\n\r\n"u8) >= 0)
                    {
                        break;
                    }
                }

                var requestLine = Encoding.ASCII.GetString(buffer, 0, read).Split("\r\n", 2)[0];
                var parts = requestLine.Split(' ');
                var ok = parts.Length == 3 && parts[0] == "GET" && (parts[1] == "/metrics" || parts[1].StartsWith("/metrics?", StringComparison.Ordinal));
                var body = Encoding.UTF8.GetBytes(ok ? render() : "not found: the node serves GET /metrics only\n");
                var head = Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 {(ok ? "200 OK" : "404 Not Found")}\r\nContent-Type: {(ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
                await client.SendAsync(head, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                await client.SendAsync(body, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                client.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
            {
                // The scraper went away or was too slow: nothing to answer.
            }
        }
    }

    public void Dispose() => _listener.Dispose();
}
