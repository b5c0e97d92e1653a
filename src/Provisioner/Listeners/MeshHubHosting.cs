using System.Globalization;
using System.Net;
using System.Text;
using Kldload.MeshCA;
using Kldload.MeshCA.Addressing;
using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Distribution;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Listeners;

/// <summary>Wires the mesh (Kldload.MeshCA) into the host and, when <c>Mesh:Enabled</c>, the hub interface.</summary>
public static class MeshHubHosting
{
    /// <summary>Directory of the mesh CA, the hub key and nothing else, under <c>Kldload:DataDir</c>.</summary>
    public const string CaDirectoryName = "meshca";

    /// <summary>
    /// Registers the mesh CA, IPAM, roster and <see cref="MeshIdentityService"/> (always: identities are
    /// issued with or without a hub) and <see cref="IMeshHub"/>: the live hub when <c>Mesh:Enabled</c>,
    /// otherwise a detached one. The CA and the mesh prefix are created at start, not on first use.
    /// </summary>
    public static WebApplicationBuilder AddMesh(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(config);
        var mesh = config.Mesh;
        var caDirectory = Path.Combine(config.Kldload.DataDir, CaDirectoryName);
        var services = builder.Services;

        services.AddSingleton(sp => OpenAuthority(
            sp.GetRequiredService<ICaMaterialStore>(), caDirectory, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<MeshStartup>>()));
        // The stores, one line each over the open database (the provider is chosen here).
        services.AddSingleton(sp => new MeshAddressAllocator(
            sp.GetRequiredService<IMeshAddressStore>(),
            new MeshAddressingOptions { Prefix6 = mesh.Prefix6, Cidr4 = mesh.Cidr4, Quarantine = mesh.AddressQuarantine },
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp =>
        {
            var ipam = sp.GetRequiredService<MeshAddressAllocator>();
            var hubKey = HubKey.LoadOrCreate(caDirectory);
            var topology = new MeshTopology
            {
                HubPublicKey = WireGuardKey.PublicKeyOf(hubKey),
                HubAddress6 = ipam.HubAddress6,
                HubAddress4 = ipam.HubAddress4,
                Prefix6 = ipam.Prefix6,
                Cidr4 = ipam.Cidr4,
                HubEndpoint = ResolveEndpoint(mesh, sp.GetRequiredService<ServerUrl>().Value),
                HubListenPort = mesh.ListenPort,
                Keepalive = mesh.Keepalive,
                NodeListenPort = mesh.Topology == MeshTopologyMode.HubAndSpoke ? null : mesh.ListenPort,
                HubId = sp.GetRequiredService<InstanceIdentity>().Name,
            };
            return new MeshRoster(
                new MeshHubClusterSync(sp.GetRequiredService<IMeshRosterStore>(), sp.GetRequiredService<IClusterNotifications>()),
                topology,
                PolicyFor(mesh),
                sp.GetRequiredService<TimeProvider>());
        });

        if (mesh.Enabled)
        {
            var readiness = new ListenerReadiness("mesh");
            services.AddSingleton(sp => new MeshHub(
                mesh,
                caDirectory,
                sp.GetRequiredService<MeshRoster>,
                readiness,
                sp.GetRequiredService<ILogger<MeshHub>>()));
            services.AddSingleton<IMeshHub>(sp => sp.GetRequiredService<MeshHub>());
            services.AddSingleton<IReadinessCheck>(readiness);
            services.AddHostedService(sp => sp.GetRequiredService<MeshHub>());
        }
        else
        {
            services.AddSingleton<IMeshHub>(DetachedMeshHub.Instance);
        }

        services.AddSingleton(sp =>
        {
            var identity = new MeshIdentityService(
                sp.GetRequiredService<MeshCertificateAuthority>(),
                sp.GetRequiredService<MeshAddressAllocator>(),
                sp.GetRequiredService<MeshRoster>(),
                sp.GetRequiredService<IMeshHub>(),
                mesh.CertificateLifetime);
            MeshHubClusterSync.Follow(sp.GetRequiredService<IClusterNotifications>(), identity, sp.GetRequiredService<ILogger<MeshHubClusterSync>>());
            return identity;
        });
        services.AddHostedService(sp => new MeshStartup(
            new Lazy<MeshIdentityService>(sp.GetRequiredService<MeshIdentityService>),
            sp.GetRequiredService<KldloadConfiguration>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<MeshStartup>>()));
        return builder;
    }

    /// <summary>The peer policy <c>Mesh:Topology</c> (and <c>Mesh:Groups</c>) name.</summary>
    public static IPeerPolicy PolicyFor(MeshSettings mesh)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        return mesh.Topology switch
        {
            MeshTopologyMode.FullMesh => FullMeshPolicy.Instance,
            MeshTopologyMode.Groups => new GroupsPolicy(mesh.Groups),
            _ => HubAndSpokePolicy.Instance,
        };
    }

    /// <summary>
    /// Where other nodes dial a node directly: its boot LAN address (the source of its attestation) and
    /// <c>Mesh:ListenPort</c>, which direct-peering bundles make every node listen on; null under hub and spoke.
    /// </summary>
    public static string? NodeEndpoint(MeshSettings mesh, IPAddress? bootLanAddress)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        if (mesh.Topology == MeshTopologyMode.HubAndSpoke || bootLanAddress is null)
        {
            return null;
        }

        var address = bootLanAddress.IsIPv4MappedToIPv6 ? bootLanAddress.MapToIPv4() : bootLanAddress;
        return new IPEndPoint(address, mesh.ListenPort).ToString();
    }

    /// <summary><c>Mesh:Endpoint</c>, or the host of the server URL nodes use and <c>Mesh:ListenPort</c>.</summary>
    public static string ResolveEndpoint(MeshSettings mesh, Uri serverUrl)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        ArgumentNullException.ThrowIfNull(serverUrl);
        return mesh.Endpoint ?? string.Create(CultureInfo.InvariantCulture, $"{serverUrl.Host}:{mesh.ListenPort}");
    }

    /// <summary>
    /// Opens the CA in <paramref name="store"/> (creating it on an empty store). A shared store that is
    /// still empty while <paramref name="caDirectory"/> holds a CA (a site moved from LiteDB) gets that
    /// CA, sealed, instead of a new one. A key file that is missing, unsafe or not the one the stored CA
    /// is sealed under stops start-up naming <c>Mesh:CaKeyFile</c>.
    /// </summary>
    internal static MeshCertificateAuthority OpenAuthority(ICaMaterialStore store, string caDirectory, TimeProvider time, ILogger logger)
    {
        try
        {
            if (store is not CaDirectoryStore && store.Load() is null && new CaDirectoryStore(caDirectory) is { Exists: true } files)
            {
                // Checked before it is copied: a broken directory stops here, naming its files.
                using (MeshCertificateAuthority.Open(files, time))
                {
                }

                var material = files.Load()!;
                if (ReferenceEquals(store.AddIfAbsent(material), material))
                {
                    MeshStartup.Log.CaImported(logger, caDirectory, store.Location);
                }
            }

            return MeshCertificateAuthority.OpenOrCreate(store, SiteName(), time);
        }
        catch (CaKeyFileException e)
        {
            throw new SettingBindException("Mesh:CaKeyFile", e.KeyPath, e.Message, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or System.Security.Cryptography.CryptographicException)
        {
            throw new SettingBindException("Kldload:DataDir", Path.GetDirectoryName(caDirectory)!, $"cannot open the mesh CA in {store.Location}: {e.Message}", e);
        }
    }

    private static string SiteName()
    {
        var sb = new StringBuilder();
        foreach (var c in Environment.MachineName)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '-');
        }

        return sb.Length == 0 ? "kldload" : sb.ToString();
    }
}

/// <summary>Opens the mesh CA, the address plan and the roster at start, so a broken CA stops the service at once.</summary>
internal sealed partial class MeshStartup(Lazy<MeshIdentityService> mesh, KldloadConfiguration configuration, TimeProvider time, ILogger<MeshStartup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Lazy: the CA, address plan and roster open here, at this service's start, as before.
        var identity = mesh.Value;
        Log.Ready(logger, identity.Authority.Location, identity.Addresses.Prefix6.ToString(), identity.Roster.Topology.HubEndpoint, identity.Roster.Members.Count, identity.Roster.Epoch);
        if (identity.Hub.IsRunning)
        {
            // The hub is up (it starts before this service): the other provisioners on the database
            // peer with it from now on, and it peers with each of them.
            var topology = identity.Roster.Topology;
            var settings = configuration.Mesh;
            var record = new MeshHubRecord
            {
                InstanceId = topology.HubId!,
                PublicKey = topology.HubPublicKey,
                Endpoint = settings.PeerEndpoint ?? topology.HubEndpoint,
                SeenAt = time.GetUtcNow(),
            };
            identity.AnnounceHub(record);
            Log.Announced(logger, record.InstanceId, record.Endpoint, identity.Roster.PeerHubs.Count);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    internal static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.MeshCaImported, Level = LogLevel.Information, Message = "mesh CA imported from {CaDirectory} into {Store}, its private keys sealed under Mesh:CaKeyFile; the files in {CaDirectory} are no longer read")]
        public static partial void CaImported(ILogger logger, string caDirectory, string store);

        [LoggerMessage(EventId = LogEvents.MeshHubReady, Level = LogLevel.Information, Message = "mesh CA in {CaLocation}; mesh prefix {Prefix6}; nodes dial {Endpoint}; {Members} members at epoch {Epoch}")]
        public static partial void Ready(ILogger logger, string caLocation, string prefix6, string endpoint, int members, ulong epoch);

        [LoggerMessage(EventId = LogEvents.MeshHubAnnounced, Level = LogLevel.Information, Message = "mesh hub of instance {Instance} announced at {Endpoint}; peering with {PeerHubs} other hubs")]
        public static partial void Announced(ILogger logger, string instance, string endpoint, int peerHubs);
    }
}
