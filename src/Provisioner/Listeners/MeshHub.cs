using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;
using Kldload.MeshCA.Links;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// The mesh hub interface (<c>Mesh:Interface</c>, default <c>kl0</c>) run by kldload itself: created at
/// start (kernel WireGuard where available, wireguard-go otherwise; a stale interface left by a crash is
/// replaced), given the hub key, address and every member as a peer, changed live as nodes enrol or are
/// revoked, and removed at shutdown. The changes themselves are <see cref="LinkMeshHub"/>'s (the one
/// implementation of <see cref="IMeshHub"/> over a link); this class adds the lifecycle, readiness,
/// forwarding and logs.
/// </summary>
public sealed partial class MeshHub : IMeshHub, IHostedService, IDisposable
{
    private readonly MeshSettings _settings;
    private readonly string _caDirectory;
    private readonly Func<MeshRoster> _roster;
    private readonly ListenerReadiness _readiness;
    private readonly ILogger<MeshHub> _logger;
    private readonly Lock _gate = new();
    private WireGuardLink? _link;
    private LinkMeshHub? _hub;
    private HubForwarding? _forwarding;

    internal MeshHub(MeshSettings settings, string caDirectory, Func<MeshRoster> roster, ListenerReadiness readiness, ILogger<MeshHub> logger)
    {
        _settings = settings;
        _caDirectory = caDirectory;
        _roster = roster;
        _readiness = readiness;
        _logger = logger;
    }

    public bool IsRunning
    {
        get
        {
            lock (_gate)
            {
                return _link is not null;
            }
        }
    }

    /// <summary>The backend in use once started.</summary>
    public WireGuardBackend? Backend => _link?.Backend;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var roster = _roster();
        var hubKey = HubKey.LoadOrCreate(_caDirectory);
        var stale = WireGuardLink.Exists(_settings.Interface);
        WireGuardLink link;
        try
        {
            link = WireGuardLink.Create(_settings.Interface);
        }
        catch (WireGuardLinkException e)
        {
            _readiness.MarkFailed(e.Message);
            throw new SettingBindException("Mesh:Enabled", "true",
                $"cannot create the hub interface {_settings.Interface}: {e.Message}; kldload needs root (CAP_NET_ADMIN) and kernel WireGuard or wireguard-go, or set Mesh:Enabled=false", e);
        }

        if (stale)
        {
            Log.StaleReplaced(_logger, _settings.Interface);
        }

        try
        {
            var configuration = roster.HubConfiguration();
            try
            {
                link.SetPrivateKey(hubKey, _settings.ListenPort);
            }
            catch (WireGuardLinkException e)
            {
                throw new SettingBindException("Mesh:ListenPort", _settings.ListenPort.ToString(System.Globalization.CultureInfo.InvariantCulture), $"the hub cannot listen: {e.Message}", e);
            }

            LinkMeshHub.BringUp(link, configuration, hubKey);
            HubForwarding? forwarding;
            try
            {
                forwarding = _settings.Forwarding ? HubForwarding.TurnOn(link.Name) : null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new SettingBindException("Mesh:Forwarding", "true", $"cannot turn on forwarding for the hub: {e.Message}; run as root, or set Mesh:Forwarding=false and route by other means", e);
            }

            lock (_gate)
            {
                _link = link;
                _hub = new LinkMeshHub(link, hubKey);
                _forwarding = forwarding;
            }

            if (forwarding is not null)
            {
                Log.Forwarding(_logger, link.Name, forwarding.Describe());
            }

            _readiness.MarkBound();
            Log.Up(_logger, link.Name, link.Backend, string.Join(", ", configuration.Addresses), _settings.ListenPort, configuration.Peers.Count, configuration.Epoch);
            return Task.CompletedTask;
        }
        catch (Exception e)
        {
            link.Dispose();
            _readiness.MarkFailed(e.Message);
            if (e is WireGuardLinkException)
            {
                throw new SettingBindException("Mesh:Interface", _settings.Interface, $"cannot configure the hub interface: {e.Message}", e);
            }

            throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        WireGuardLink? link;
        HubForwarding? forwarding;
        lock (_gate)
        {
            link = _link;
            _link = null;
            _hub = null;
            forwarding = _forwarding;
            _forwarding = null;
        }

        forwarding?.Restore();
        if (link is not null)
        {
            link.Dispose();
            _readiness.MarkFailed("stopped");
            Log.Down(_logger, link.Name);
        }

        return Task.CompletedTask;
    }

    public void AddOrUpdatePeer(MeshPeer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_gate)
        {
            if (_hub is null)
            {
                return; // not up yet: StartAsync applies the whole roster
            }

            _hub.AddOrUpdatePeer(peer);
        }

        Log.PeerSet(_logger, peer.Name, WireGuardKey.ToBase64(peer.PublicKey), string.Join(", ", peer.AllowedIps));
    }

    public void RemovePeer(ReadOnlySpan<byte> publicKey)
    {
        var key = WireGuardKey.ToBase64(publicKey);
        lock (_gate)
        {
            if (_hub is null)
            {
                return;
            }

            _hub.RemovePeer(publicKey);
        }

        Log.PeerRemoved(_logger, key);
    }

    public void Synchronize(PeerBundle hubConfiguration)
    {
        ArgumentNullException.ThrowIfNull(hubConfiguration);
        lock (_gate)
        {
            if (_hub is null)
            {
                return; // not up yet: StartAsync applies the whole roster
            }

            _hub.Synchronize(hubConfiguration);
        }

        Log.Synchronized(_logger, hubConfiguration.Peers.Count, hubConfiguration.Epoch);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _link?.Dispose();
            _link = null;
            _hub = null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.MeshHubUp, Level = LogLevel.Information, Message = "mesh hub {Interface} up ({Backend}) with {Addresses}, UDP {ListenPort}, {Peers} peers at epoch {Epoch}")]
        public static partial void Up(ILogger logger, string @interface, WireGuardBackend backend, string addresses, int listenPort, int peers, ulong epoch);

        [LoggerMessage(EventId = LogEvents.MeshHubStaleReplaced, Level = LogLevel.Warning, Message = "mesh hub {Interface} existed at start (left by a crash?): replaced")]
        public static partial void StaleReplaced(ILogger logger, string @interface);

        [LoggerMessage(EventId = LogEvents.MeshHubDown, Level = LogLevel.Information, Message = "mesh hub {Interface} removed")]
        public static partial void Down(ILogger logger, string @interface);

        [LoggerMessage(EventId = LogEvents.MeshPeerSet, Level = LogLevel.Information, Message = "mesh peer {Node} {PublicKey} set, allowed {AllowedIps}")]
        public static partial void PeerSet(ILogger logger, string node, string publicKey, string allowedIps);

        [LoggerMessage(EventId = LogEvents.MeshHubSynchronized, Level = LogLevel.Information, Message = "mesh hub given its whole configuration: {Peers} peers (members homed here and other hubs) at epoch {Epoch}")]
        public static partial void Synchronized(ILogger logger, int peers, ulong epoch);

        [LoggerMessage(EventId = LogEvents.MeshHubForwarding, Level = LogLevel.Information, Message = "mesh hub {Interface} routes between its peers: {Sysctls} (restored at shutdown; Mesh:Forwarding=false leaves them alone)")]
        public static partial void Forwarding(ILogger logger, string @interface, string sysctls);

        [LoggerMessage(EventId = LogEvents.MeshPeerRemoved, Level = LogLevel.Information, Message = "mesh peer {PublicKey} removed")]
        public static partial void PeerRemoved(ILogger logger, string publicKey);
    }
}
