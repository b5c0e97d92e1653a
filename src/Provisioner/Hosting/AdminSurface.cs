using System.Collections.Frozen;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Kldload.MeshCA.Addressing;
using Kldload.Provisioner.Listeners;
using Kldload.Provisioner.Settings;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Kldload.Provisioner.Hosting;

/// <summary>Which listeners answer a route once <c>Admin:Urls</c> is set.</summary>
public enum RouteSurface
{
    /// <summary>The operator's: admin API, dashboard, metrics, OpenAPI. Only on the admin listeners.</summary>
    Admin,

    /// <summary>What nodes need: boot script, images, loaders, attestation, the mesh routes. Only on the <c>--urls</c> (and mesh) listeners.</summary>
    Node,

    /// <summary>Health and readiness: on every listener (a load balancer or systemd probe may sit on either side).</summary>
    Every,
}

/// <summary>
/// The two HTTP surfaces (issue 23). With <c>Admin:Urls</c> set, kldload also listens there over TLS
/// (<see cref="AdminCertificate"/>), and <see cref="UseAdminSurface"/> answers 404 to a request that
/// arrives on the wrong side: an operator's route on the boot LAN listener, or a node's route on an
/// admin listener. <see cref="Of"/> is the one place that decides which route is whose; every route
/// not named there as node-facing is the operator's (closed by default: a new admin route never
/// appears on the boot LAN by accident). Without <c>Admin:Urls</c> nothing here is added and every
/// route answers on the <c>--urls</c> listeners as before.
/// </summary>
public static partial class AdminSurface
{
    private const string ConnectionItemKey = "kldload.admin-listener";

    /// <summary>
    /// The node-facing routes, by route pattern as the router spells it. Routes marked for the mesh
    /// (<see cref="MeshFacingRoute"/>) are node-facing too. <c>AdminSurfaceTests</c> checks that each
    /// pattern here names a route the host maps, so a renamed node route cannot silently become admin-only.
    /// </summary>
    public static readonly FrozenDictionary<string, RouteSurface> NodeFacing = new Dictionary<string, RouteSurface>(StringComparer.Ordinal)
    {
        ["/healthz"] = RouteSurface.Every,
        ["/readyz"] = RouteSurface.Every,
        ["/boot.ipxe"] = RouteSurface.Node,
        ["/tftp/{**name}"] = RouteSurface.Node,
        ["/images/{digest}"] = RouteSurface.Node,
        ["/images/channels/{channel}/{file}"] = RouteSurface.Node,
        ["/images/{name}/{version}/{file}"] = RouteSurface.Node,
        ["/api/v1/attest/challenge"] = RouteSurface.Node,
        ["/api/v1/attest/quote"] = RouteSurface.Node,
        ["/api/v1/attest/activate"] = RouteSurface.Node,
        ["/api/v1/attest/ready"] = RouteSurface.Node,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The surface of an endpoint: <see cref="NodeFacing"/>, a mesh route, else <see cref="RouteSurface.Admin"/>.</summary>
    public static RouteSurface Of(Endpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is RouteEndpoint { RoutePattern.RawText: { } pattern } && NodeFacing.TryGetValue(pattern, out var surface))
        {
            return surface;
        }

        return endpoint.Metadata.GetMetadata<MeshFacingRoute>() is not null ? RouteSurface.Node : RouteSurface.Admin;
    }

    /// <summary>
    /// With <c>Admin:Urls</c> set: loads or generates the certificate and adds the admin listeners
    /// (after the <c>--urls</c> and mesh ones, so the first listen URL stays the one nodes use).
    /// Returns null, and adds nothing, when <c>Admin:Urls</c> is unset.
    /// </summary>
    public static AdminListeners? AddAdminSurface(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(config);
        if (!config.Admin.Separate)
        {
            return null;
        }

        var (certificate, source) = AdminCertificate.LoadOrCreate(config.Admin, TimeProvider.System);
        var listeners = new AdminListeners(config.Admin.Urls, certificate, source)
        {
            MeshHubPort = config.Mesh.Enabled ? config.Admin.MeshHubPort : null,
        };
        builder.Services.AddSingleton(listeners);
        builder.WebHost.ConfigureKestrel(kestrel => listeners.Listen(kestrel));
        return listeners;
    }

    /// <summary>True when the request came in through an admin listener.</summary>
    public static bool ArrivedOnAdminListener(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(ConnectionItemKey) == true;
    }

    /// <summary>
    /// After routing, with admin listeners: a route answers only on its own side, 404 elsewhere (as
    /// if it did not exist there). Without admin listeners this adds nothing.
    /// </summary>
    public static IApplicationBuilder UseAdminSurface(this IApplicationBuilder app, AdminListeners? listeners)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (listeners is null)
        {
            return app;
        }

        return app.Use((context, next) =>
        {
            var endpoint = context.GetEndpoint();
            if (endpoint is null)
            {
                return next(context);
            }

            var surface = Of(endpoint);
            var onAdmin = ArrivedOnAdminListener(context);
            if (surface == RouteSurface.Every || (surface == RouteSurface.Admin) == onAdmin)
            {
                return next(context);
            }

            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
    }

    internal static void MarkConnections(ListenOptions listen) => listen.Use(next => connection =>
    {
        connection.Items[ConnectionItemKey] = true;
        return next(connection);
    });
}

/// <summary>The admin listeners of a running host: their certificate and, once bound, where a local client reaches them.</summary>
public sealed class AdminListeners
{
    private readonly List<ListenOptions> _bound = [];

    internal AdminListeners(IReadOnlyList<Uri> urls, X509Certificate2 certificate, string source)
    {
        Urls = urls;
        Certificate = certificate;
        CertificateSource = source;
        Fingerprint = AdminSettings.Fingerprint(certificate);
    }

    /// <summary>The configured <c>Admin:Urls</c> (the addresses; the mesh hub entry is <see cref="MeshHubPort"/>).</summary>
    public IReadOnlyList<Uri> Urls { get; }

    /// <summary>The port of <c>https://mesh-hub:PORT</c> while the mesh is on: the admin surface listens on the hub's addresses too; null otherwise.</summary>
    public int? MeshHubPort { get; init; }

    public X509Certificate2 Certificate { get; }

    /// <summary>The certificate file, or the generated one's path with "(generated)".</summary>
    public string CertificateSource { get; }

    /// <summary>SHA-256 of the certificate, as the CLI pins it.</summary>
    public string Fingerprint { get; }

    /// <summary>
    /// The admin URLs as bound (Kestrel writes the chosen port back for port 0; <c>localhost</c> shows
    /// as 127.0.0.1); valid once the host has started.
    /// </summary>
    public IReadOnlyList<Uri> BoundUrls => [.. _bound.Select(o => o.IPEndPoint).OfType<IPEndPoint>().Select(ip => new UriBuilder(Uri.UriSchemeHttps, ip.Address.ToString(), ip.Port).Uri)];

    /// <summary>The first admin URL as a client on this host reaches it (a wildcard address becomes loopback).</summary>
    public Uri? Local => BoundUrls.Select(u =>
    {
        if (!IPAddress.TryParse(u.Host.Trim('[', ']'), out var address))
        {
            return u;
        }

        var host = address.Equals(IPAddress.Any) ? "127.0.0.1" : address.Equals(IPAddress.IPv6Any) ? "[::1]" : u.Host;
        return new UriBuilder(u.Scheme, host, u.Port).Uri;
    }).FirstOrDefault();

    internal void Listen(KestrelServerOptions kestrel)
    {
        void Configure(ListenOptions o)
        {
            o.UseHttps(Certificate);
            AdminSurface.MarkConnections(o);
            _bound.Add(o);
        }

        foreach (var url in Urls)
        {
            if (string.Equals(url.Host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                kestrel.ListenLocalhost(url.Port, Configure);
            }
            else
            {
                kestrel.Listen(IPAddress.Parse(url.Host.Trim('[', ']')), url.Port, Configure);
            }
        }

        // The hub's addresses are the mesh's own (Mesh:Prefix6, Mesh:Cidr4, or generated and kept in the
        // data directory), known once the services are built; the hub interface carries them by the
        // time Kestrel binds, as for the nodes' mesh listener.
        if (MeshHubPort is { } port)
        {
            var hub = kestrel.ApplicationServices.GetRequiredService<MeshAddressAllocator>();
            foreach (var address in hub.HubAddress4 is { } hub4 ? [hub.HubAddress6, hub4] : new[] { hub.HubAddress6 })
            {
                kestrel.Listen(address, port, Configure);
            }
        }
    }
}
