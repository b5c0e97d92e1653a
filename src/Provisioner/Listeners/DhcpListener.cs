using System.Net.NetworkInformation;
using System.Net.Sockets;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Leases;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// Hosts the Kldload.Dhcp engine: resolves the server address, opens the lease store
/// (<c>{Kldload:DataDir}/leases.db</c>, Full mode), binds the sockets on <c>Dhcp:Interface</c> and runs
/// the receive loop until shutdown. A bind failure stops start-up with a <see cref="SettingBindException"/>.
/// </summary>
public sealed partial class DhcpListener(
    DhcpSettings settings,
    KldloadSettings kldload,
    IDhcpBootPolicy bootPolicy,
    DhcpLeases leases,
    LeaseStoreOpeners leaseStores,
    TimeProvider time,
    ILogger<DhcpListener> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private DhcpUdpTransport? _transport;
    private ILeaseStore? _store;
    private Task? _loop;
    private Task? _heartbeatLoop;

    /// <summary>Readiness of the DHCP listener for <c>/readyz</c>.</summary>
    public ListenerReadiness Readiness { get; } = new("dhcp");

    /// <summary>The running engine (null before start): leases, option 82 and counters for the provisioner.</summary>
    public DhcpEngine? Engine { get; private set; }

    /// <summary>Datagrams lost because the engine could not keep up.</summary>
    public long QueueOverflows => _transport?.QueueOverflows ?? 0;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var iface = settings.Interface ?? throw new SettingBindException("Dhcp:Interface", string.Empty, "required when Dhcp:Mode is not Off");
        var serverAddress = settings.ServerAddress is { } configured ? Ipv4Address.FromIPAddress(configured) : FirstAddressOf(iface);
        var mode = settings.Mode == DhcpMode.Proxy ? DhcpServerMode.Proxy : DhcpServerMode.Full;
        var options = new DhcpServerOptions
        {
            Mode = mode,
            ServerAddress = serverAddress,
            ProxyPort = settings.ProxyPort,
            Subnets = settings.Subnets.Select(ToSubnet).ToList(),
            Reservations = settings.Reservations.Select(ToReservation).ToList(),
            DeclineHoldTime = settings.DeclineHoldTime,
            LoadBalancing = mode == DhcpServerMode.Full ? settings.LoadBalancing : DhcpLoadBalancingRole.None,
        };

        var ports = new List<(int, string)> { (settings.Port, "Dhcp:Port") };
        if (mode == DhcpServerMode.Proxy && settings.ProxyPort != settings.Port)
        {
            ports.Add((settings.ProxyPort, "Dhcp:ProxyPort"));
        }

        try
        {
            _transport = new DhcpUdpTransport(iface, ports, (key, port, e) => BindFailed(key, port, iface, e));
        }
        catch (SocketException e)
        {
            throw new SettingBindException("Dhcp:Interface", iface, $"cannot bind DHCP on this interface: {e.Message}", e);
        }

        var storePath = Path.Combine(kldload.DataDir, "leases.db");
        try
        {
            _store = mode == DhcpServerMode.Full ? leaseStores.OpenV4(storePath) : new InMemoryLeaseStore();
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or Storage.StorageSchemaException)
        {
            _transport.Dispose();
            Readiness.MarkFailed($"lease store: {e.Message}");
            throw new SettingBindException("Database:ConnectionString", "(hidden)", $"cannot open the DHCP lease table: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LiteDB.LiteException or LeaseJournalException)
        {
            _transport.Dispose();
            Readiness.MarkFailed($"lease store {storePath}: {e.Message}");
            throw new SettingBindException("Kldload:DataDir", kldload.DataDir, $"cannot open the DHCP lease store {storePath}: {e.Message}", e);
        }

        Engine = new DhcpEngine(options, _store, bootPolicy, time);
        IDhcpPeerHeartbeat? heartbeat = null;
        if (options.LoadBalancing != DhcpLoadBalancingRole.None)
        {
            var link = new DhcpPeerLink(DhcpPeerLink.SegmentOf(options.Subnets), options.LoadBalancing,
                Storage.InstanceIdentity.OpenOrCreate(kldload.DataDir).Name, settings.PeerTimeout);
            try
            {
                // The settings check guarantees PostgreSQL; the first beat says whom to answer from the start.
                heartbeat = (leaseStores.OpenHeartbeat ?? throw new InvalidOperationException("no shared database for the heartbeat"))(link);
                Engine.SetPeerAlive(heartbeat.Beat());
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or Storage.StorageSchemaException or InvalidOperationException)
            {
                _transport.Dispose();
                _store.Dispose();
                Readiness.MarkFailed($"DHCP heartbeat: {e.Message}");
                throw new SettingBindException("Dhcp:LoadBalancing", settings.LoadBalancing.ToString(), $"cannot beat in the shared database: {e.Message}", e);
            }

            Log.LoadBalancing(logger, link.Role.ToString(), link.Segment, Engine.PeerAlive ? "alive" : "silent", link.PeerTimeout.TotalSeconds);
        }

        var server = new DhcpServer(Engine, _store, _transport)
        {
            Observer = Observe,
            SendFailed = (reply, e) => Log.SendFailed(logger, reply.Destination.ToString(), e.Message),
        };
        var store = _store;
        leases.Publish(mode == DhcpServerMode.Full ? Engine : null, mode == DhcpServerMode.Full ? store.Snapshot : null);
        _transport.Start();
        _loop = Task.Run(() => server.RunAsync(_stop.Token));
        if (heartbeat is not null)
        {
            var engine = Engine;
            _heartbeatLoop = Task.Run(() => BeatAsync(heartbeat, engine, _stop.Token));
        }

        Readiness.MarkBound();
        Log.Listening(logger, mode.ToString(), iface, string.Join(",", ports.Select(p => p.Item1)), serverAddress.ToString(), Engine.Leases.Count);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        leases.Publish(null, null);
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }

        if (_heartbeatLoop is not null)
        {
            await _heartbeatLoop.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }

        _transport?.Dispose();
        _store?.Dispose();
        _store = null;
    }

    /// <summary>Idempotent: the host disposes the listener after <see cref="StopAsync"/>.</summary>
    public void Dispose()
    {
        _transport?.Dispose();
        _store?.Dispose();
        _store = null;
        _stop.Dispose();
    }

    /// <summary>
    /// Beats every second (<see cref="DhcpPeerLink.BeatInterval"/>) and tells the engine whether the peer
    /// is alive. A beat that fails leaves the engine as it was: without the database no ACK leaves either,
    /// and the peer's row says nothing new.
    /// </summary>
    private async Task BeatAsync(IDhcpPeerHeartbeat heartbeat, DhcpEngine engine, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(DhcpPeerLink.BeatInterval, time);
        var failing = false;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    var alive = heartbeat.Beat();
                    failing = false;
                    if (engine.SetPeerAlive(alive))
                    {
                        if (alive)
                        {
                            Log.PeerBack(logger, settings.LoadBalancing.Peer().ToString(), settings.LoadBalancing.ToString());
                        }
                        else
                        {
                            Log.PeerSilent(logger, settings.LoadBalancing.Peer().ToString(), settings.PeerTimeout.TotalSeconds, engine.Leases.Count);
                        }
                    }
                }
                catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException or InvalidOperationException)
                {
                    if (!failing)
                    {
                        Log.HeartbeatFailed(logger, e.Message);
                    }

                    failing = true;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private void BindFailed(string key, int port, string iface, SocketException e)
    {
        var why = SocketBindErrors.Describe(e,
            inUse: "the port is already in use on this host (another DHCP server?)",
            denied: "permission denied (DHCP needs root or CAP_NET_BIND_SERVICE and CAP_NET_RAW)",
            iface: iface);
        Readiness.MarkFailed($"{key} = {port}: {why}");
        if (SocketBindErrors.IsInterfaceProblem(e, iface))
        {
            throw new SettingBindException("Dhcp:Interface", iface, $"cannot bind DHCP: {why}", e);
        }

        throw new SettingBindException(key, port.ToString(System.Globalization.CultureInfo.InvariantCulture), $"cannot bind DHCP on {iface}: {why}", e);
    }

    private Ipv4Address FirstAddressOf(string iface)
    {
        var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == iface)
            ?? throw new SettingBindException("Dhcp:Interface", iface, "no such interface on this host");
        var address = nic.GetIPProperties().UnicastAddresses.Select(a => a.Address).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork);
        if (address is null)
        {
            Readiness.MarkFailed($"{iface} has no IPv4 address");
            throw new SettingBindException("Dhcp:Interface", iface, "the interface has no IPv4 address; assign one or set Dhcp:ServerAddress");
        }

        return Ipv4Address.FromIPAddress(address);
    }

    private static DhcpSubnet ToSubnet(DhcpSubnetSettings s) => new()
    {
        Network = Ipv4Address.FromIPAddress(s.Network.BaseAddress),
        PrefixLength = s.Network.PrefixLength,
        PoolStart = Ipv4Address.FromIPAddress(s.PoolStart),
        PoolEnd = Ipv4Address.FromIPAddress(s.PoolEnd),
        Router = s.Router is null ? null : Ipv4Address.FromIPAddress(s.Router),
        DnsServers = s.DnsServers.Select(Ipv4Address.FromIPAddress).ToList(),
        DomainName = s.DomainName,
        LeaseTime = s.LeaseTime,
    };

    private static DhcpReservation ToReservation(DhcpReservationSettings r) => new()
    {
        Address = Ipv4Address.FromIPAddress(r.Address),
        HostName = r.Hostname,
        HardwareAddress = r.Mac is { } mac ? FormatMac(mac.GetAddressBytes()) : null,
        ClientId = r.ClientId,
        CircuitId = r.CircuitId,
        RemoteId = r.RemoteId,
    };

    private static string FormatMac(byte[] mac) => string.Join(':', mac.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));

    private void Observe(DhcpDatagram datagram, DhcpOutcome outcome)
    {
        if (outcome.Drop == DhcpDropReason.Malformed && outcome.Request is null)
        {
            if (logger.IsEnabled(LogLevel.Debug))
            {
                Log.Malformed(logger, datagram.Source.ToString(), outcome.ReadError.ToString(), datagram.Length);
            }

            return;
        }

        if (!logger.IsEnabled(LogLevel.Debug) || outcome.Request is not { } request)
        {
            return;
        }

        using var scope = logger.BeginScope(new Dictionary<string, object>
        {
            ["mac"] = request.HardwareAddressText,
            ["xid"] = request.TransactionId.ToString("x8", System.Globalization.CultureInfo.InvariantCulture),
        });
        var type = request.Options.MessageType?.ToString() ?? "none";
        if (outcome.Reply is { } reply)
        {
            Log.Answered(logger, type, request.HardwareAddressText, reply.Type.ToString(), reply.Message.YourAddress.ToString(), reply.Message.BootFile, reply.Destination.ToString());
        }
        else if (outcome.Drop is { } reason)
        {
            Log.Dropped(logger, type, request.HardwareAddressText, reason.ToString());
        }
        else
        {
            Log.Recorded(logger, type, request.HardwareAddressText, request.ClientAddress.ToString());
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.DhcpListening, Level = LogLevel.Information, Message = "DHCP {Mode} on {Interface} port {Ports}, server address {ServerAddress}, {Leases} leases loaded")]
        public static partial void Listening(ILogger logger, string mode, string @interface, string ports, string serverAddress, int leases);

        [LoggerMessage(EventId = LogEvents.DhcpAnswered, Level = LogLevel.Debug, Message = "DHCP {Type} from {Mac}: {ReplyType} {Address} file '{BootFile}' to {Destination}")]
        public static partial void Answered(ILogger logger, string type, string mac, string replyType, string address, string bootFile, string destination);

        [LoggerMessage(EventId = LogEvents.DhcpDropped, Level = LogLevel.Debug, Message = "DHCP {Type} from {Mac} not answered: {Reason}")]
        public static partial void Dropped(ILogger logger, string type, string mac, string reason);

        [LoggerMessage(EventId = LogEvents.DhcpMalformed, Level = LogLevel.Debug, Message = "DHCP malformed datagram from {Source} ({Length} bytes): {Error}")]
        public static partial void Malformed(ILogger logger, string source, string error, int length);

        [LoggerMessage(EventId = LogEvents.DhcpRecorded, Level = LogLevel.Debug, Message = "DHCP {Type} from {Mac} recorded ({Address})")]
        public static partial void Recorded(ILogger logger, string type, string mac, string address);

        [LoggerMessage(EventId = LogEvents.DhcpSendFailed, Level = LogLevel.Warning, Message = "DHCP reply to {Destination} could not be sent: {Error}")]
        public static partial void SendFailed(ILogger logger, string destination, string error);

        [LoggerMessage(EventId = LogEvents.DhcpLoadBalancing, Level = LogLevel.Information, Message = "DHCP load balancing as {Role} on segment {Segment}: peer {PeerState}, peer timeout {PeerTimeoutSeconds} s")]
        public static partial void LoadBalancing(ILogger logger, string role, string segment, string peerState, double peerTimeoutSeconds);

        [LoggerMessage(EventId = LogEvents.DhcpPeerSilent, Level = LogLevel.Warning, Message = "DHCP peer {Peer} silent for more than {PeerTimeoutSeconds} s: leases reloaded ({Leases}), answering every client")]
        public static partial void PeerSilent(ILogger logger, string peer, double peerTimeoutSeconds, int leases);

        [LoggerMessage(EventId = LogEvents.DhcpPeerBack, Level = LogLevel.Information, Message = "DHCP peer {Peer} alive: answering the {Role} half only")]
        public static partial void PeerBack(ILogger logger, string peer, string role);

        [LoggerMessage(EventId = LogEvents.DhcpHeartbeatFailed, Level = LogLevel.Warning, Message = "DHCP heartbeat failed (the peer state stays as it was): {Error}")]
        public static partial void HeartbeatFailed(ILogger logger, string error);
    }
}
