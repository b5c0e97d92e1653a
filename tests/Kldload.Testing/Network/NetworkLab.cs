using System.Net.Sockets;
using System.Runtime.InteropServices;
using Kldload.Testing.Processes;

namespace Kldload.Testing.Network;

/// <summary>
/// Network namespaces a test creates for itself: a server namespace and a client namespace joined by
/// a veth pair (server side 10.N.0.1/24), unique names, everything deleted on dispose (processes
/// started through the lab are stopped first, by PID).
/// </summary>
public sealed class NetworkLab : IDisposable
{
    private const int CloneNewNet = 0x40000000;

    private readonly List<string> _namespaces = [];
    private readonly List<PeerProcess> _processes = [];

    public NetworkLab()
    {
        Id = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next())).ToLowerInvariant()[..4];
        Octet = 100 + Random.Shared.Next(100);
        ServerNs = $"kldS{Id}";
        ClientNs = $"kldC{Id}";
        ServerIf = $"kd{Id}s";
        ClientIf = $"kd{Id}c";
        TempDir = Directory.CreateTempSubdirectory($"kldhcp-{Id}-").FullName;
        try
        {
            AddNamespace(ServerNs);
            AddNamespace(ClientNs);
            Ip("link", "add", ServerIf, "netns", ServerNs, "type", "veth", "peer", "name", ClientIf, "netns", ClientNs);
            IpIn(ServerNs, "addr", "add", $"{Prefix}.0.1/24", "dev", ServerIf);
            IpIn(ServerNs, "link", "set", ServerIf, "up");
            IpIn(ClientNs, "link", "set", ClientIf, "up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Id { get; }

    /// <summary>Second octet of the lab's 10.X.0.0/16.</summary>
    public int Octet { get; }

    public string Prefix => $"10.{Octet}";

    public string ServerNs { get; }

    public string ClientNs { get; }

    public string ServerIf { get; }

    public string ClientIf { get; }

    public string TempDir { get; }

    public void AddNamespace(string name)
    {
        Ip("netns", "add", name);
        _namespaces.Add(name);
        IpIn(name, "link", "set", "lo", "up");
    }

    /// <summary>
    /// Readies <paramref name="iface"/> in <paramref name="ns"/> for IPv6 tests: duplicate address
    /// detection off and the link cycled, so its link-local address is usable at once (DHCPv6 clients
    /// and servers bind it), then <paramref name="cidr"/> added when given. Call once per interface,
    /// before any other address is added to it (the cycle flushes them).
    /// </summary>
    public static void EnableIpv6(string ns, string iface, string? cidr)
    {
        Ip("netns", "exec", ns, "sysctl", "-qw", $"net.ipv6.conf.{iface}.accept_dad=0");
        IpIn(ns, "link", "set", iface, "down");
        IpIn(ns, "link", "set", iface, "up");
        if (cidr is not null)
        {
            IpIn(ns, "addr", "add", cidr, "dev", iface, "nodad");
        }

        // The kernel adds the link-local address a moment after the link comes up (with carrier);
        // dhclient -6 started before that exits with "no link-local IPv6 address". Wait for it (at
        // most 10 s: a link whose peer is still down has none yet, and its user says so itself).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var (_, shown) = PeerProcess.RunAsync(TimeSpan.FromSeconds(20), "ip", "-n", ns, "-6", "-o", "addr", "show", "dev", iface, "scope", "link").GetAwaiter().GetResult();
            if (shown.Contains("fe80:", StringComparison.Ordinal) && !shown.Contains("tentative", StringComparison.Ordinal))
            {
                return;
            }

            Thread.Sleep(50);
        }
    }

    public static void Ip(params string[] args)
    {
        var (code, output) = PeerProcess.RunAsync(TimeSpan.FromSeconds(20), "ip", args).GetAwaiter().GetResult();
        if (code != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed ({code}): {output}");
        }
    }

    public static void IpIn(string ns, params string[] args) => Ip(["-n", ns, .. args]);

    /// <summary>Starts <paramref name="file"/> inside <paramref name="ns"/>; stopped when the lab is disposed.</summary>
    public PeerProcess Start(string ns, string file, params string[] args)
    {
        var p = PeerProcess.Start("ip", ["netns", "exec", ns, file, .. args], TempDir);
        lock (_processes)
        {
            _processes.Add(p);
        }

        return p;
    }

    /// <summary>Runs a command inside <paramref name="ns"/> to completion (bounded).</summary>
    public async Task<(int ExitCode, string Output)> RunAsync(string ns, TimeSpan timeout, string file, params string[] args)
    {
        using var p = PeerProcess.Start("ip", ["netns", "exec", ns, file, .. args], TempDir);
        await p.WaitForExitAsync(timeout);
        return (p.ExitCode, p.Output);
    }

    /// <summary>
    /// Creates a UDP socket inside <paramref name="ns"/>: a dedicated thread enters the namespace with
    /// setns(2) (which changes only that thread), creates the socket and exits. The socket stays in
    /// the namespace it was created in.
    /// </summary>
    public static Socket CreateUdpSocketIn(string ns) => CreateSocketIn(ns, SocketType.Dgram, ProtocolType.Udp);

    /// <summary>A UDP socket for IPv6 inside <paramref name="ns"/>, like <see cref="CreateUdpSocketIn"/>.</summary>
    public static Socket CreateUdp6SocketIn(string ns) => CreateSocketIn(ns, SocketType.Dgram, ProtocolType.Udp, AddressFamily.InterNetworkV6);

    /// <summary>A TCP (IPv4) socket inside <paramref name="ns"/>, for HTTP clients that reach a server there.</summary>
    public static Socket CreateTcpSocketIn(string ns) => CreateSocketIn(ns, SocketType.Stream, ProtocolType.Tcp);

    /// <summary>An HTTP handler whose connections are made inside <paramref name="ns"/> (<see cref="CreateTcpSocketIn"/>).</summary>
    public static SocketsHttpHandler HttpHandlerIn(string ns) => new()
    {
        ConnectCallback = async (context, ct) =>
        {
            var socket = CreateTcpSocketIn(ns);
            try
            {
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

    private static Socket CreateSocketIn(string ns, SocketType type, ProtocolType protocol, AddressFamily family = AddressFamily.InterNetwork)
    {
        Socket? socket = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{ns}");
                if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new InvalidOperationException($"setns({ns}) failed: errno {Marshal.GetLastPInvokeError()}");
                }

                socket = new Socket(family, type, protocol);
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        thread.Start();
        thread.Join();
        return socket ?? throw new InvalidOperationException("no socket", error);
    }

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SetNs(int fd, int nstype);

    public void Dispose()
    {
        lock (_processes)
        {
            foreach (var p in _processes)
            {
                p.Dispose();
            }
        }

        foreach (var ns in _namespaces.AsEnumerable().Reverse())
        {
            try
            {
                Ip("netns", "del", ns);
            }
            catch (InvalidOperationException)
            {
                // Best effort: keep deleting the others.
            }
        }

        try
        {
            Directory.Delete(TempDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
