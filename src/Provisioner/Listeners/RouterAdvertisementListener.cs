using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using Kldload.Dhcp.RouterDiscovery;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// Hosts the <see cref="RouterAdvertiser"/> on <c>Dhcp:Interface</c>: one raw ICMPv6 socket pinned to
/// the interface (SO_BINDTODEVICE), filtered to router solicitations and advertisements (ICMP6_FILTER),
/// joined to all-routers (ff02::2, where solicitations go), hop limit 255 on everything it sends (RFC
/// 4861 section 6.1: receivers drop ND messages with any other hop limit), multicast loopback off. The
/// kernel computes the ICMPv6 checksum of what it sends and drops what fails it (RFC 3542 section 3.1).
/// In Auto mode it first solicits routers itself (three RS, 4 s apart, RFC 4861 section 10), so a router
/// already on the segment is known before the first client asks. A socket that cannot be opened stops
/// start-up in mode On (exit 2 naming <c>Dhcp:RouterAdvertisements</c>) and only logs a warning in Auto,
/// where answering is an optimisation.
/// </summary>
public sealed partial class RouterAdvertisementListener(
    DhcpSettings settings,
    TimeProvider time,
    ILogger<RouterAdvertisementListener> logger) : IHostedService, IDisposable
{
    private const int SolSocket = 1;
    private const int SoBindToDevice = 25;
    private const int IpprotoIpv6 = 41;
    private const int Ipv6UnicastHops = 16;
    private const int Ipv6MulticastIf = 17;
    private const int Ipv6MulticastHops = 18;
    private const int Ipv6MulticastLoop = 19;
    private const int SolIcmpv6 = 58;
    private const int Icmp6Filter = 1;
    private const int NdHopLimit = 255;

    private static readonly TimeSpan[] StartupSolicitations = [TimeSpan.Zero, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(4)];

    private readonly CancellationTokenSource _stop = new();
    private Socket? _socket;
    private Task? _loop;
    private Task? _probe;
    private long _sendFailures;
    private int _interfaceIndex;
    private int _disposed;

    /// <summary>The running advertiser (null before start or when the socket could not be opened).</summary>
    public RouterAdvertiser? Advertiser { get; private set; }

    /// <summary>Advertisements (and start-up solicitations) the kernel refused to send.</summary>
    public long SendFailures => Interlocked.Read(ref _sendFailures);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var iface = settings.Interface ?? throw new SettingBindException("Dhcp:Interface", string.Empty, "required when Dhcp:Mode is not Off");
        var mode = settings.RouterAdvertisements;
        try
        {
            var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == iface)
                ?? throw new SocketException((int)SocketError.AddressNotAvailable);
            var index = nic.GetIPProperties().GetIPv6Properties().Index;
            var mac = nic.GetPhysicalAddress().GetAddressBytes();
            _socket = Open(iface, index);
            Advertiser = new RouterAdvertiser(new RouterAdvertiserOptions { Mode = mode, LinkLayerAddress = mac.Length == 6 ? mac : [] }, time);
            _interfaceIndex = index;
        }
        catch (Exception e) when (e is SocketException or NetworkInformationException)
        {
            _socket?.Dispose();
            _socket = null;
            if (mode == RouterAdvertisementMode.On)
            {
                throw new SettingBindException("Dhcp:RouterAdvertisements", "On", $"cannot open an ICMPv6 socket on {iface} (needs IPv6 on the interface and CAP_NET_RAW): {e.Message}", e);
            }

            Log.Unavailable(logger, iface, e.Message);
            return Task.CompletedTask;
        }

        _loop = Task.Run(() => ReceiveLoop(_socket, Advertiser, iface));
        if (mode == RouterAdvertisementMode.Auto)
        {
            _probe = Task.Run(() => SolicitRouters(_socket, Advertiser));
        }

        Log.Listening(logger, mode.ToString(), iface);
        return Task.CompletedTask;
    }

    private static Socket Open(string iface, int index)
    {
        var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.IcmpV6);
        try
        {
            socket.SetRawSocketOption(SolSocket, SoBindToDevice, Encoding.ASCII.GetBytes(iface + "\0"));

            // ICMP6_FILTER: 256 bits, one per ICMPv6 type, set = blocked (RFC 3542 section 3.2). Pass 133 and 134 only.
            Span<byte> filter = stackalloc byte[32];
            filter.Fill(0xff);
            foreach (var type in new[] { NdpMessageType.RouterSolicitation, NdpMessageType.RouterAdvertisement })
            {
                var word = filter.Slice((int)type >> 5 << 2, 4);
                BinaryPrimitives.WriteUInt32LittleEndian(word, BinaryPrimitives.ReadUInt32LittleEndian(word) & ~(1u << ((int)type & 31)));
            }

            socket.SetRawSocketOption(SolIcmpv6, Icmp6Filter, filter);
            socket.SetRawSocketOption(IpprotoIpv6, Ipv6UnicastHops, BitConverter.GetBytes(NdHopLimit));
            socket.SetRawSocketOption(IpprotoIpv6, Ipv6MulticastHops, BitConverter.GetBytes(NdHopLimit));
            socket.SetRawSocketOption(IpprotoIpv6, Ipv6MulticastLoop, BitConverter.GetBytes(0));
            socket.SetRawSocketOption(IpprotoIpv6, Ipv6MulticastIf, BitConverter.GetBytes(index));
            socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.AddMembership, new IPv6MulticastOption(RouterAdvertiser.AllRouters, index));
            socket.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task ReceiveLoop(Socket socket, RouterAdvertiser advertiser, string iface)
    {
        var buffer = new byte[1500];
        EndPoint any = new IPEndPoint(IPAddress.IPv6Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult result;
            try
            {
                result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode != SocketError.OperationAborted)
            {
                continue;
            }
            catch (SocketException)
            {
                return;
            }

            var source = ((IPEndPoint)result.RemoteEndPoint).Address;
            var message = buffer.AsSpan(0, result.ReceivedBytes);
            if (message.Length > 0 && message[0] == (byte)NdpMessageType.RouterAdvertisement && IsOwnAddress(iface, source))
            {
                continue;
            }

            var outcome = advertiser.Handle(message, source);
            Report(outcome, source, iface);
            if (outcome.Reply is { } reply && outcome.Destination is { } destination)
            {
                Send(socket, reply, destination, source);
            }
        }
    }

    private async Task SolicitRouters(Socket socket, RouterAdvertiser advertiser)
    {
        foreach (var delay in StartupSolicitations)
        {
            try
            {
                await Task.Delay(delay, time, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (advertiser.SilencedBy is not null)
            {
                return;
            }

            // The first may fail while the link-local address is still tentative (duplicate address detection).
            Send(socket, advertiser.CreateSolicitation(), RouterAdvertiser.AllRouters, null);
        }
    }

    private void Send(Socket socket, byte[] message, IPAddress destination, IPAddress? answering)
    {
        var to = destination.IsIPv6Multicast || destination.IsIPv6LinkLocal && destination.ScopeId == 0
            ? new IPAddress(destination.GetAddressBytes(), _interfaceIndex)
            : destination;
        try
        {
            socket.SendTo(message, SocketFlags.None, new IPEndPoint(to, 0));
            if (answering is not null && logger.IsEnabled(LogLevel.Debug))
            {
                Log.Sent(logger, to.ToString(), answering.ToString());
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // A tentative link-local address (duplicate address detection still running) or a link that is down.
            Interlocked.Increment(ref _sendFailures);
            if (answering is not null)
            {
                Log.SendFailed(logger, to.ToString(), e.Message);
            }
            else if (logger.IsEnabled(LogLevel.Debug))
            {
                Log.ProbeFailed(logger, to.ToString(), e.Message);
            }
        }
    }

    private void Report(RouterDiscoveryOutcome outcome, IPAddress source, string iface)
    {
        switch (outcome.Event)
        {
            case RouterDiscoveryEvent.StoppedForOtherRouter:
                Log.OtherRouterSeen(logger, source.ToString(), iface);
                break;
            case RouterDiscoveryEvent.Resumed:
                Log.Resumed(logger, iface);
                break;
        }

        if (outcome.Drop is { } drop && logger.IsEnabled(LogLevel.Debug))
        {
            Log.Dropped(logger, outcome.Type?.ToString() ?? "ICMPv6", source.ToString(), drop.ToString(), outcome.ReadError.ToString());
        }
    }

    private static bool IsOwnAddress(string iface, IPAddress source)
    {
        var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == iface);
        var plain = new IPAddress(source.GetAddressBytes());
        return nic is not null && nic.GetIPProperties().UnicastAddresses.Any(a => new IPAddress(a.Address.GetAddressBytes()).Equals(plain));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        foreach (var task in new[] { _loop, _probe })
        {
            if (task is not null)
            {
                try
                {
                    await task.WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.LoopFailed(logger, e.Message);
                }
            }
        }
    }

    /// <summary>Idempotent: the host disposes the listener after <see cref="StopAsync"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        _socket?.Dispose();
        _stop.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.RaListening, Level = LogLevel.Information, Message = "IPv6 router advertisements {Mode} on {Interface}: router solicitations get an empty advertisement (lifetime 0, no prefix, M=O=0)")]
        public static partial void Listening(ILogger logger, string mode, string @interface);

        [LoggerMessage(EventId = LogEvents.RaSent, Level = LogLevel.Debug, Message = "Router advertisement sent to {Destination} for the solicitation from {Source}")]
        public static partial void Sent(ILogger logger, string destination, string source);

        [LoggerMessage(EventId = LogEvents.RaOtherRouterSeen, Level = LogLevel.Information, Message = "Another IPv6 router ({Router}) advertises on {Interface}; router advertisements stopped (Auto) until it is silent for 30 min")]
        public static partial void OtherRouterSeen(ILogger logger, string router, string @interface);

        [LoggerMessage(EventId = LogEvents.RaResumed, Level = LogLevel.Information, Message = "No other IPv6 router advertised on {Interface} for 30 min; answering router solicitations again")]
        public static partial void Resumed(ILogger logger, string @interface);

        [LoggerMessage(EventId = LogEvents.RaSendFailed, Level = LogLevel.Warning, Message = "ICMPv6 message to {Destination} could not be sent: {Error}")]
        public static partial void SendFailed(ILogger logger, string destination, string error);

        [LoggerMessage(EventId = LogEvents.RaUnavailable, Level = LogLevel.Warning, Message = "IPv6 router advertisements off: cannot open an ICMPv6 socket on {Interface} ({Error}); iPXE clients will wait for IPv6 autoconfiguration (set Dhcp:RouterAdvertisements=Off to silence this)")]
        public static partial void Unavailable(ILogger logger, string @interface, string error);

        [LoggerMessage(EventId = LogEvents.RaLoopFailed, Level = LogLevel.Warning, Message = "Router advertisement listener ended with an error: {Error}")]
        public static partial void LoopFailed(ILogger logger, string error);

        [LoggerMessage(EventId = LogEvents.RaProbeFailed, Level = LogLevel.Debug, Message = "Router solicitation to {Destination} could not be sent: {Error}")]
        public static partial void ProbeFailed(ILogger logger, string destination, string error);

        [LoggerMessage(EventId = LogEvents.RaDropped, Level = LogLevel.Debug, Message = "{Type} from {Source} not answered: {Reason} {Error}")]
        public static partial void Dropped(ILogger logger, string type, string source, string reason, string error);
    }
}
