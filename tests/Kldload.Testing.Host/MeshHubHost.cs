using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Kldload.MeshCA;
using Kldload.Testing.Network;
using Kldload.Testing.Processes;

namespace Kldload.Testing.Host;

/// <summary>
/// The real host (<see cref="TestHost"/>) with its mesh hub up in the test's own network namespace:
/// wireguard-go on an interface of its own name, a random ULA /64 of its own, <c>--urls</c> on
/// 127.0.0.1 at a free port, forwarding left off, lab enrollment and an image on the channel
/// <c>stable</c>. Requests to the hub's mesh address go to an address of this host (loopback
/// routing). Disposing stops the host (which removes the interface) and deletes its data directory.
/// </summary>
public sealed class MeshHubHost : IAsyncDisposable
{
    private readonly string _dir;

    private MeshHubHost(string dir, TestHost host, string iface, int port)
    {
        _dir = dir;
        Host = host;
        Interface = iface;
        Port = port;
    }

    public TestHost Host { get; }

    /// <summary>The hub's WireGuard interface.</summary>
    public string Interface { get; }

    /// <summary>The HTTP port, on 127.0.0.1 and on the hub's mesh addresses.</summary>
    public int Port { get; }

    /// <summary>The hub's IPv6 mesh address.</summary>
    public IPAddress Hub6 => Host.Service<MeshIdentityService>().Roster.Topology.HubAddress6;

    /// <summary>
    /// Starts the host; <paramref name="name"/> (three letters) begins the interface's and the data
    /// directory's names, <paramref name="settings"/> are added to the command line.
    /// </summary>
    public static async Task<MeshHubHost> StartAsync(string name, params string[] settings)
    {
        var dir = Directory.CreateTempSubdirectory($"kldload-{name}-").FullName;
        var iface = name + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var port = FreePort.Tcp();
        var prefix = RandomNumberGenerator.GetBytes(8);
        prefix[0] = 0xFD;
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        try
        {
            var host = await TestHost.StartAsync(dir, images,
            [
                $"--urls=http://127.0.0.1:{port}",
                "--Boot:DefaultChannel=stable",
                "--Attestation:EnrollmentPolicy=Lab",
                "--Mesh:Enabled=true",
                "--Mesh:Forwarding=false", // the host's own network namespace: its sysctls stay as they are
                $"--Mesh:Interface={iface}",
                $"--Mesh:ListenPort={FreePort.Udp()}",
                $"--Mesh:Prefix6={new IPAddress([.. prefix, .. new byte[8]])}/64",
                .. settings,
            ]);
            return new MeshHubHost(dir, host, iface, port);
        }
        catch
        {
            Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    /// <summary>Puts <paramref name="address"/> on the hub interface, standing in for a tunnel's far end (a node's mesh address).</summary>
    public void AddAddress(IPAddress address) => ExternalTool.Run("ip", ["addr", "add", $"{address}/128", "dev", Interface, "nodad"]);

    /// <summary>A client of the hub's IPv6 mesh address whose connections leave from <paramref name="source"/> (null: the kernel's choice).</summary>
    public HttpClient MeshClient(IPAddress? source = null, TimeSpan? timeout = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    if (source is not null)
                    {
                        socket.Bind(new IPEndPoint(source, 0));
                    }

                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = new Uri($"http://[{Hub6}]:{Port}") };
        if (timeout is { } t)
        {
            client.Timeout = t;
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
