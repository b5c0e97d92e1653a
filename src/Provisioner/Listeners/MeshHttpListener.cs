using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// The HTTP listener on the hub's mesh addresses. Nodes send their node-facing mesh requests (ready,
/// and any route marked <see cref="ServedOnMesh{TBuilder}"/>) to <c>[hub address]:PORT</c>, PORT being
/// the port of the server URL they were given, whatever <c>--urls</c> says. kldload therefore adds a
/// listener there for every hub address that <c>--urls</c> does not already cover; a request that
/// arrives through that listener reaches only the routes marked for the mesh (404 for the rest: the
/// admin API, the dashboard and the boot LAN routes stay where <c>--urls</c> puts them). Where
/// <c>--urls</c> covers a hub address itself (a wildcard on PORT), the operator chose to serve
/// everything on every address and nothing is added or filtered.
/// </summary>
public static class MeshHttpListener
{
    private const string ConnectionItemKey = "kldload.mesh-listener";

    /// <summary>
    /// The endpoints kldload must add so that every hub address answers on <paramref name="port"/>: those
    /// that no listen URL covers. Kestrel binds <c>[::]</c> dual-stack (covering IPv4 too), <c>0.0.0.0</c>
    /// IPv4 only, a host name on every address, <c>localhost</c> on loopback only.
    /// </summary>
    public static IReadOnlyList<IPEndPoint> MissingEndpoints(IReadOnlyList<Uri> urls, IEnumerable<IPAddress> hubAddresses, int port)
    {
        ArgumentNullException.ThrowIfNull(urls);
        ArgumentNullException.ThrowIfNull(hubAddresses);
        return [.. hubAddresses
            .Where(hub => !urls.Any(url => url.Port == port && Covers(url, hub)))
            .Select(hub => new IPEndPoint(hub, port))];
    }

    private static bool Covers(Uri url, IPAddress hub)
    {
        if (string.Equals(url.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (!IPAddress.TryParse(url.Host.Trim('[', ']'), out var bound))
        {
            return true;
        }

        return bound.Equals(IPAddress.IPv6Any)
            || (bound.Equals(IPAddress.Any) && hub.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            || bound.Equals(hub);
    }

    /// <summary>
    /// Listens where <paramref name="urls"/> say (as <c>UseUrls</c> would: an explicit Kestrel listener
    /// replaces <c>UseUrls</c> altogether, so the URLs are bound here too, in their order) and then on
    /// <paramref name="meshEndpoints"/>, whose connections are marked as arriving over the mesh.
    /// </summary>
    public static void Listen(KestrelServerOptions kestrel, IReadOnlyList<Uri> urls, IReadOnlyList<IPEndPoint> meshEndpoints)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        ArgumentNullException.ThrowIfNull(urls);
        ArgumentNullException.ThrowIfNull(meshEndpoints);
        foreach (var url in urls)
        {
            Action<ListenOptions> configure = url.Scheme == Uri.UriSchemeHttps ? o => o.UseHttps() : _ => { };
            if (string.Equals(url.Host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                kestrel.ListenLocalhost(url.Port, configure);
            }
            else if (IPAddress.TryParse(url.Host.Trim('[', ']'), out var address))
            {
                kestrel.Listen(address, url.Port, configure);
            }
            else
            {
                kestrel.ListenAnyIP(url.Port, configure);
            }
        }

        foreach (var endpoint in meshEndpoints)
        {
            kestrel.Listen(endpoint, o => o.Use(next => connection =>
            {
                connection.Items[ConnectionItemKey] = true;
                return next(connection);
            }));
        }
    }

    /// <summary>True when the request came in through kldload's own mesh listener.</summary>
    public static bool ArrivedOnMeshListener(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(ConnectionItemKey) == true;
    }

    /// <summary>Marks routes that nodes reach over the mesh: the mesh listener serves only these.</summary>
    public static TBuilder ServedOnMesh<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.WithMetadata(MeshFacingRoute.Instance);
    }

    /// <summary>
    /// After routing: a request from the mesh listener for a route not marked for the mesh is answered
    /// 404, as if the route did not exist there.
    /// </summary>
    public static IApplicationBuilder UseMeshListenerFilter(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Use((context, next) =>
        {
            if (ArrivedOnMeshListener(context) && context.GetEndpoint()?.Metadata.GetMetadata<MeshFacingRoute>() is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
    }
}

/// <summary>Endpoint metadata: the route is node-facing and served on the hub's mesh address.</summary>
public sealed class MeshFacingRoute
{
    public static readonly MeshFacingRoute Instance = new();

    private MeshFacingRoute()
    {
    }
}
