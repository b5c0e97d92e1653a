using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Kldload.Dhcp.Dhcp6.Protocol;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Leases;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// Hosts the DHCPv6 engine: resolves the server address and DUID from <c>Dhcp6:Interface</c>, opens
/// the lease journal (<c>{Kldload:DataDir}/leases6.journal</c>, Full mode), binds UDP 547 joined to
/// ff02::1:2 on that interface and runs the receive loop until shutdown. A bind failure stops start-up
/// with a <see cref="SettingBindException"/>.
/// </summary>
public sealed partial class Dhcp6Listener(
    Dhcp6Settings settings,
    KldloadSettings kldload,
    IDhcpBootPolicy bootPolicy,
    Dhcp6Leases leases,
    LeaseStoreOpeners leaseStores,
    TimeProvider time,
    ILogger<Dhcp6Listener> logger) : IHostedService, IDisposable
{
    /// <summary>RFC 5612's enterprise number for documentation, in the DUID-EN of an interface without a MAC.</summary>
    private const uint DocumentationEnterprise = 32473;

    private readonly CancellationTokenSource _stop = new();
    private Dhcp6UdpTransport? _transport;
    private IDhcp6LeaseStore? _store;
    private Task? _loop;

    /// <summary>Readiness of the DHCPv6 listener for <c>/readyz</c>.</summary>
    public ListenerReadiness Readiness { get; } = new("dhcp6");

    /// <summary>The running engine (null before start).</summary>
    public Dhcp6Engine? Engine { get; private set; }

    /// <summary>Datagrams lost because the engine could not keep up.</summary>
    public long QueueOverflows => _transport?.QueueOverflows ?? 0;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var iface = settings.Interface ?? throw new SettingBindException("Dhcp6:Interface", string.Empty, "required when Dhcp6:Mode is not Off");
        var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == iface)
            ?? throw new SettingBindException("Dhcp6:Interface", iface, "no such interface on this host");
        var serverAddress = settings.ServerAddress ?? FirstGlobalAddress(nic);
        var mode = settings.Mode == DhcpMode.Proxy ? Dhcp6ServerMode.Proxy : Dhcp6ServerMode.Full;
        var options = new Dhcp6ServerOptions
        {
            Mode = mode,
            ServerDuid = ServerDuid(nic),
            ServerAddress = serverAddress,
            Subnets = settings.Subnets.Select(s => new Dhcp6Subnet
            {
                Prefix = s.Prefix,
                PoolStart = s.PoolStart,
                PoolEnd = s.PoolEnd,
                DnsServers = s.DnsServers,
                PreferredLifetime = s.PreferredLifetime,
                ValidLifetime = s.ValidLifetime,
            }).ToList(),
            Reservations = settings.Reservations.Select(r => new Dhcp6Reservation
            {
                Address = r.Address,
                Duid = r.Duid,
                HardwareAddress = r.Mac is { } mac ? string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture))) : null,
                HostName = r.Hostname,
            }).ToList(),
            DeclineHoldTime = settings.DeclineHoldTime,
        };

        var index = nic.GetIPProperties().GetIPv6Properties()?.Index ?? 0;
        try
        {
            _transport = new Dhcp6UdpTransport(iface, index, Dhcp6Engine.ServerPort);
        }
        catch (SocketException e)
        {
            var why = SocketBindErrors.Describe(e,
                inUse: "UDP 547 is already in use on this host (another DHCPv6 server?)",
                denied: "permission denied (DHCPv6 needs root or CAP_NET_BIND_SERVICE and CAP_NET_RAW)");
            Readiness.MarkFailed($"Dhcp6:Interface = {iface}: {why}");
            throw new SettingBindException("Dhcp6:Interface", iface, $"cannot bind DHCPv6: {why}", e);
        }

        var storePath = Path.Combine(kldload.DataDir, "leases6.journal");
        try
        {
            _store = mode == Dhcp6ServerMode.Full ? leaseStores.OpenV6(storePath) : new InMemoryDhcp6LeaseStore();
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or Storage.StorageSchemaException)
        {
            _transport.Dispose();
            Readiness.MarkFailed($"lease store: {e.Message}");
            throw new SettingBindException("Database:ConnectionString", "(hidden)", $"cannot open the DHCPv6 lease table: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LeaseJournalException)
        {
            _transport.Dispose();
            Readiness.MarkFailed($"lease journal {storePath}: {e.Message}");
            throw new SettingBindException("Kldload:DataDir", kldload.DataDir, $"cannot open the DHCPv6 lease journal {storePath}: {e.Message}", e);
        }

        Engine = new Dhcp6Engine(options, _store, bootPolicy, time);
        var server = new Dhcp6Server(Engine, _store, _transport)
        {
            Observer = Observe,
            SendFailed = (reply, e) => Log.SendFailed(logger, reply.Destination.ToString(), e.Message),
            FlushFailed = e => Log.FlushFailed(logger, e.Message),
        };
        leases.Publish(Engine);
        _transport.Start();
        _loop = Task.Run(() => server.RunAsync(_stop.Token));
        Readiness.MarkBound();
        Log.Listening(logger, mode.ToString(), iface, serverAddress.ToString(), options.ServerDuid.ToString(), Engine.Leases.Count);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        leases.Publish(null);
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
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

    private IPAddress FirstGlobalAddress(NetworkInterface nic)
    {
        var address = nic.GetIPProperties().UnicastAddresses.Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv6LinkLocal && !IPAddress.IsLoopback(a));
        if (address is null)
        {
            Readiness.MarkFailed($"{nic.Name} has no global IPv6 address");
            throw new SettingBindException("Dhcp6:Interface", nic.Name, "the interface has no global or ULA IPv6 address (boot file URLs need one); assign one or set Dhcp6:ServerAddress");
        }

        return new IPAddress(address.GetAddressBytes());
    }

    /// <summary>
    /// DUID-LL of the interface's MAC (RFC 8415 section 11.4: stable for as long as the NIC is in the
    /// host); an interface without a MAC gets a DUID-EN derived from its name, equally stable.
    /// </summary>
    private static Duid ServerDuid(NetworkInterface nic)
    {
        var mac = nic.GetPhysicalAddress().GetAddressBytes();
        if (mac.Length == 6 && mac.Any(b => b != 0))
        {
            return Duid.FromMac(mac);
        }

        var id = SHA256.HashData(Encoding.UTF8.GetBytes("kldload-dhcp6:" + nic.Name)).AsSpan(0, 8);
        byte[] en = [0, (byte)DuidType.EnterpriseNumber, 0, 0, (byte)(DocumentationEnterprise >> 8), (byte)(DocumentationEnterprise & 0xFF), .. id];
        return new Duid(en);
    }

    private void Observe(DhcpDatagram datagram, Dhcp6Outcome outcome)
    {
        if (!logger.IsEnabled(LogLevel.Debug))
        {
            return;
        }

        if (outcome.Request is not { } request)
        {
            Log.Malformed(logger, datagram.Source.ToString(), outcome.ReadError.ToString(), datagram.Length);
            return;
        }

        var duid = request.Message.Options.ClientId?.ToString() ?? "none";
        using var scope = logger.BeginScope(new Dictionary<string, object>
        {
            ["duid"] = duid,
            ["xid"] = request.Message.TransactionId.ToString("x6", System.Globalization.CultureInfo.InvariantCulture),
        });
        if (outcome.Reply is { } reply)
        {
            var addresses = string.Join(",", reply.Message.Options.IaNas.SelectMany(ia => ia.Options.IaAddresses).Select(a => a.Address));
            Log.Answered(logger, request.Message.MessageType.ToString(), duid, reply.Message.MessageType.ToString(), addresses, reply.Message.Options.BootFileUrl ?? string.Empty, reply.Destination.ToString());
        }
        else
        {
            Log.Dropped(logger, request.Message.MessageType.ToString(), duid, outcome.Drop?.ToString() ?? "none");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.Dhcp6Listening, Level = LogLevel.Information, Message = "DHCPv6 {Mode} on {Interface} port 547 (ff02::1:2), server address {ServerAddress}, DUID {Duid}, {Leases} leases loaded")]
        public static partial void Listening(ILogger logger, string mode, string @interface, string serverAddress, string duid, int leases);

        [LoggerMessage(EventId = LogEvents.Dhcp6Answered, Level = LogLevel.Debug, Message = "DHCPv6 {Type} from {Duid}: {ReplyType} {Addresses} boot file '{BootFileUrl}' to {Destination}")]
        public static partial void Answered(ILogger logger, string type, string duid, string replyType, string addresses, string bootFileUrl, string destination);

        [LoggerMessage(EventId = LogEvents.Dhcp6Dropped, Level = LogLevel.Debug, Message = "DHCPv6 {Type} from {Duid} not answered: {Reason}")]
        public static partial void Dropped(ILogger logger, string type, string duid, string reason);

        [LoggerMessage(EventId = LogEvents.Dhcp6Malformed, Level = LogLevel.Debug, Message = "DHCPv6 malformed datagram from {Source} ({Length} bytes): {Error}")]
        public static partial void Malformed(ILogger logger, string source, string error, int length);

        [LoggerMessage(EventId = LogEvents.Dhcp6SendFailed, Level = LogLevel.Warning, Message = "DHCPv6 reply to {Destination} could not be sent: {Error}")]
        public static partial void SendFailed(ILogger logger, string destination, string error);

        [LoggerMessage(EventId = LogEvents.Dhcp6FlushFailed, Level = LogLevel.Error, Message = "DHCPv6 lease journal flush failed, the batch's replies were not sent: {Error}")]
        public static partial void FlushFailed(ILogger logger, string error);
    }
}
