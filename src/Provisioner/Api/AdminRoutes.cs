using System.Collections.Frozen;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Kldload.Provisioner.Api;

/// <summary>Endpoint metadata: the route is part of the admin API and needs a bearer token with a role.</summary>
public sealed class AdminApiRoute
{
    public static readonly AdminApiRoute Instance = new();

    private AdminApiRoute()
    {
    }
}

/// <summary>
/// Who may call each admin API route (issue 23): the one table that classifies them. A route of the
/// admin group that is missing here needs <see cref="OperatorRole.Admin"/> (closed by default), and
/// <c>AdminRouteRolesTests</c> fails until it is added.
/// </summary>
public static class AdminRoutes
{
    /// <summary>The minimum role per route, keyed <c>METHOD /route/pattern</c> as the router spells it.</summary>
    public static readonly FrozenDictionary<string, OperatorRole> Table = new Dictionary<string, OperatorRole>(StringComparer.Ordinal)
    {
        // Reading: the dashboard, `kldload nodes/events/leases/image list`, Prometheus service discovery.
        ["GET /api/v1/nodes"] = OperatorRole.Viewer,
        ["GET /api/v1/nodes/{id}"] = OperatorRole.Viewer,
        ["GET /api/v1/nodes/{id}/events"] = OperatorRole.Viewer,
        ["GET /api/v1/nodes/{id}/hardware"] = OperatorRole.Viewer,
        ["GET /api/v1/nodes/{id}/bmc"] = OperatorRole.Viewer,
        ["GET /api/v1/events"] = OperatorRole.Viewer,
        ["GET /api/v1/events/stream"] = OperatorRole.Viewer,
        ["GET /api/v1/profiles"] = OperatorRole.Viewer,
        ["GET /api/v1/profiles/{name}"] = OperatorRole.Viewer,
        ["GET /api/v1/rollouts"] = OperatorRole.Viewer,
        ["GET /api/v1/rollouts/{id}"] = OperatorRole.Viewer,
        ["GET /api/v1/leases"] = OperatorRole.Viewer,
        ["GET /api/v1/leases/{address}"] = OperatorRole.Viewer,
        ["GET /api/v1/leases6"] = OperatorRole.Viewer,
        ["GET /api/v1/leases6/{address}"] = OperatorRole.Viewer,
        ["GET /api/v1/images"] = OperatorRole.Viewer,
        ["GET /api/v1/images/{name}/{version}"] = OperatorRole.Viewer,
        ["GET /api/v1/channels"] = OperatorRole.Viewer,
        ["GET /api/v1/channels/{channel}"] = OperatorRole.Viewer,
        ["GET /api/v1/catalog/images"] = OperatorRole.Viewer,
        ["GET /api/v1/catalog/images/{name}/{version}"] = OperatorRole.Viewer,
        ["GET /api/v1/catalog/channels"] = OperatorRole.Viewer,
        ["GET /api/v1/catalog/channels/{channel}"] = OperatorRole.Viewer,
        ["GET /api/v1/catalog/channels/{channel}/history"] = OperatorRole.Viewer,
        ["GET /api/v1/prometheus/targets"] = OperatorRole.Viewer,
        ["GET /api/v1/instances"] = OperatorRole.Viewer,
        ["GET /api/v1/whoami"] = OperatorRole.Viewer,
        ["GET /api/v1/nodes/{id}/boots"] = OperatorRole.Viewer,
        ["GET /api/v1/nodes/{id}/approval"] = OperatorRole.Viewer,

        // Node lifecycle: what an on-call operator does to machines.
        ["PATCH /api/v1/nodes/{id}"] = OperatorRole.Operator,
        ["POST /api/v1/nodes/{id}/approve"] = OperatorRole.Operator,
        ["POST /api/v1/nodes/{id}/reimage"] = OperatorRole.Operator,
        ["POST /api/v1/nodes/{id}/decommission"] = OperatorRole.Operator,
        ["POST /api/v1/nodes/{id}/replace"] = OperatorRole.Operator,
        ["POST /api/v1/nodes/{id}/rotate-key"] = OperatorRole.Operator,
        ["POST /api/v1/nodes/{id}/repin"] = OperatorRole.Operator,
        ["POST /api/v1/nodes/{id}/power"] = OperatorRole.Operator,
        ["POST /api/v1/rollouts"] = OperatorRole.Operator,
        ["POST /api/v1/rollouts/{id}/cancel"] = OperatorRole.Operator,
        ["POST /api/v1/rollouts/{id}/resume"] = OperatorRole.Operator,
        ["DELETE /api/v1/leases/{address}"] = OperatorRole.Operator,
        ["DELETE /api/v1/leases6/{address}"] = OperatorRole.Operator,

        // The server itself: who may call it, what every node boots, what profiles decide, credentials, backups.
        ["GET /api/v1/tokens"] = OperatorRole.Admin,
        ["POST /api/v1/tokens"] = OperatorRole.Admin,
        ["POST /api/v1/tokens/{name}/revoke"] = OperatorRole.Admin,
        ["DELETE /api/v1/instances/{id}"] = OperatorRole.Admin,
        ["PUT /api/v1/profiles/{name}"] = OperatorRole.Admin,
        ["DELETE /api/v1/profiles/{name}"] = OperatorRole.Admin,
        ["PUT /api/v1/nodes/{id}/bmc"] = OperatorRole.Admin,
        ["POST /api/v1/channels/{channel}/promote"] = OperatorRole.Admin,
        ["POST /api/v1/channels/{channel}/rollback"] = OperatorRole.Admin,
        ["POST /api/v1/catalog/images"] = OperatorRole.Admin,
        ["DELETE /api/v1/catalog/images/{name}/{version}"] = OperatorRole.Admin,
        ["POST /api/v1/catalog/channels/{channel}/promote"] = OperatorRole.Admin,
        ["POST /api/v1/catalog/channels/{channel}/rollback"] = OperatorRole.Admin,
        ["POST /api/v1/catalog/gc"] = OperatorRole.Admin,
        ["POST /api/v1/catalog/verify"] = OperatorRole.Admin,
        ["POST /api/v1/backup"] = OperatorRole.Admin,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Marks every route of the group as an admin API route (see <see cref="UseOperatorTokens"/>).</summary>
    public static RouteGroupBuilder RequireOperatorToken(this RouteGroupBuilder group)
    {
        ArgumentNullException.ThrowIfNull(group);
        return group.WithMetadata(AdminApiRoute.Instance);
    }

    /// <summary>The table keys of an endpoint (one per HTTP method it answers); empty for a non-route endpoint.</summary>
    public static IEnumerable<string> Keys(Endpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not RouteEndpoint route)
        {
            yield break;
        }

        foreach (var method in endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"])
        {
            yield return $"{method} {Pattern(route.RoutePattern)}";
        }
    }

    /// <summary>The role the endpoint needs for <paramref name="method"/>: the table's, else <see cref="OperatorRole.Admin"/>.</summary>
    public static OperatorRole RequiredRole(Endpoint endpoint, string method)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return endpoint is RouteEndpoint route && Table.TryGetValue($"{method} {Pattern(route.RoutePattern)}", out var role) ? role : OperatorRole.Admin;
    }

    /// <summary>
    /// Authenticates and authorises every request to a route marked <see cref="AdminApiRoute"/>,
    /// before its body is read: 401 without a live token, 403 when the token's role is below the
    /// route's. The caller is then <see cref="Caller"/>; a request made with a named token is aborted
    /// when that token is revoked.
    /// </summary>
    public static IApplicationBuilder UseOperatorTokens(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseMiddleware<OperatorTokenMiddleware>();
    }

    /// <summary>The check <see cref="UseOperatorTokens"/> installs, given the two token sources by DI.</summary>
    private sealed class OperatorTokenMiddleware(RequestDelegate next, AdminToken admin, OperatorTokens tokens)
    {
        public async Task InvokeAsync(HttpContext context)
        {
            var endpoint = context.GetEndpoint();
            if (endpoint?.Metadata.GetMetadata<AdminApiRoute>() is null)
            {
                await next(context).ConfigureAwait(false);
                return;
            }

            var header = context.Request.Headers.Authorization.ToString();
            var caller = Authenticate(header, admin, tokens);
            if (caller is null)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Results.Problem(
                    title: "unauthorized",
                    detail: string.IsNullOrEmpty(header) ? "missing bearer token (Authorization: Bearer <contents of Auth:AdminTokenFile, or a token from `kldload tokens create`>)" : "wrong or revoked bearer token",
                    statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            var required = RequiredRole(endpoint, context.Request.Method);
            if (caller.Role < required)
            {
                var route = (endpoint as RouteEndpoint)?.RoutePattern is { } p ? Pattern(p) : context.Request.Path.ToString();
                await Results.Problem(
                    title: "forbidden",
                    detail: $"token {caller.Name} has the {OperatorRoles.Name(caller.Role)} role; {context.Request.Method} {route} needs {OperatorRoles.Name(required)}",
                    statusCode: StatusCodes.Status403Forbidden).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            context.Features.Set(caller);
            if (caller.Name == OperatorIdentity.BootstrapName)
            {
                await next(context).ConfigureAwait(false);
                return;
            }

            var revoked = tokens.RevocationOf(caller.Name);
            using (revoked.Register(context.Abort))
            {
                await next(context).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The caller of an admin API request (set by <see cref="UseOperatorTokens"/>).</summary>
    public static OperatorIdentity Caller(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        return http.Features.Get<OperatorIdentity>()
            ?? throw new InvalidOperationException($"{http.Request.Path} is not an admin API route: no caller was authenticated");
    }

    /// <summary>The bootstrap token (<c>Auth:AdminTokenFile</c>) is the admin named <c>admin</c>; otherwise a named token, or nobody.</summary>
    internal static OperatorIdentity? Authenticate(string? authorization, AdminToken bootstrap, OperatorTokens tokens)
    {
        const string prefix = "Bearer ";
        if (authorization is null || !authorization.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (bootstrap.IsValid(authorization))
        {
            return new OperatorIdentity(OperatorIdentity.BootstrapName, OperatorRole.Admin);
        }

        return tokens.Authenticate(authorization[prefix.Length..].Trim());
    }

    private static string Pattern(RoutePattern pattern) => pattern.RawText ?? string.Empty;
}
