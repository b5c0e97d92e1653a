using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Kldload.Provisioner.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Kldload.Provisioner.Tests.Api;

/// <summary>One server for the route table tests: tokens of each role, and one revoked.</summary>
public sealed class RoleTokensFixture : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-roles-").FullName;

    internal TestHost Host { get; private set; } = null!;

    /// <summary>Token text per caller name of <see cref="AdminRouteRolesTests.Callers"/>; none for "none".</summary>
    internal Dictionary<string, string> Tokens { get; } = [];

    public async Task InitializeAsync()
    {
        Host = await TestHost.StartAsync(_dir);
        Tokens["bootstrap"] = File.ReadAllText(Path.Combine(_dir, "admin.token")).Trim();
        foreach (var role in new[] { "viewer", "operator", "admin", "revoked" })
        {
            var r = await Host.Admin.PostAsJsonAsync(new Uri("/api/v1/tokens", UriKind.Relative), new { name = $"t-{role}", role = role == "revoked" ? "admin" : role });
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
            Tokens[role] = (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
        }

        Assert.Equal(HttpStatusCode.OK, (await Host.Admin.PostAsync(new Uri("/api/v1/tokens/t-revoked/revoke", UriKind.Relative), null)).StatusCode);
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>
/// Every admin API route, found through the host's <see cref="EndpointDataSource"/> (so a new route
/// cannot be missed), called by every kind of caller: the status is 401 without a live token, 403
/// below the route's role in <see cref="AdminRoutes.Table"/>, and anything else at or above it.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class AdminRouteRolesTests(RoleTokensFixture fixture) : IClassFixture<RoleTokensFixture>
{
    /// <summary>/api/v1 routes that nodes call with their own credentials (attestation, mesh control channel), outside the admin API.</summary>
    private static readonly string[] NodeFacingPrefixes = ["/api/v1/attest/", "/api/v1/mesh/"];

    /// <summary>Caller name and the role it holds (null: refused with 401 whatever the route).</summary>
    public static TheoryData<string, OperatorRole?> Callers() => new()
    {
        { "none", null },
        { "revoked", null },
        { "viewer", OperatorRole.Viewer },
        { "operator", OperatorRole.Operator },
        { "admin", OperatorRole.Admin },
        { "bootstrap", OperatorRole.Admin },
    };

    private List<RouteEndpoint> Endpoints() =>
        [.. fixture.Host.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()];

    private List<RouteEndpoint> AdminEndpoints() =>
        [.. Endpoints().Where(e => e.Metadata.GetMetadata<AdminApiRoute>() is not null)];

    [Fact]
    public void EveryAdminRoute_HasARoleInTheTable()
    {
        var admin = AdminEndpoints();
        Assert.True(admin.Count >= 50, $"only {admin.Count} admin routes found: is the group still marked?");
        var keys = admin.SelectMany(AdminRoutes.Keys).ToList();
        var unclassified = keys.Where(k => !AdminRoutes.Table.ContainsKey(k)).ToList();
        Assert.True(unclassified.Count == 0, "admin routes without a role in AdminRoutes.Table: " + string.Join(", ", unclassified));
        var stale = AdminRoutes.Table.Keys.Except(keys).ToList();
        Assert.True(stale.Count == 0, "AdminRoutes.Table names routes that do not exist: " + string.Join(", ", stale));
    }

    [Fact]
    public void EveryApiRoute_IsAdminOrNodeFacing()
    {
        var outside = Endpoints()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/api/", StringComparison.Ordinal) == true)
            .Where(e => e.Metadata.GetMetadata<AdminApiRoute>() is null)
            .Where(e => !NodeFacingPrefixes.Any(p => e.RoutePattern.RawText!.StartsWith(p, StringComparison.Ordinal)))
            .Select(e => e.RoutePattern.RawText)
            .ToList();
        Assert.True(outside.Count == 0, "/api routes outside the admin group (no token checked): " + string.Join(", ", outside));
    }

    [Theory]
    [MemberData(nameof(Callers))]
    public async Task EveryAdminRoute_AnswersTheCallerAsItsRoleAllows(string caller, OperatorRole? role)
    {
        using var http = new HttpClient { BaseAddress = fixture.Host.Http.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (fixture.Tokens.TryGetValue(caller, out var token))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        var wrong = new List<string>();
        var checkedRoutes = 0;
        foreach (var endpoint in AdminEndpoints())
        {
            foreach (var method in endpoint.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods)
            {
                var required = AdminRoutes.RequiredRole(endpoint, method);
                var status = await CallAsync(http, method, endpoint.RoutePattern.RawText!);
                checkedRoutes++;
                var expected = role is null ? "401" : role < required ? "403" : "not 401/403";
                var ok = role is null ? status == HttpStatusCode.Unauthorized
                    : role < required ? status == HttpStatusCode.Forbidden
                    : status is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden);
                if (!ok)
                {
                    wrong.Add($"{method} {endpoint.RoutePattern.RawText} (needs {OperatorRoles.Name(required)}): {(int)status}, expected {expected}");
                }
            }
        }

        Assert.True(checkedRoutes >= 50, $"only {checkedRoutes} routes called");
        Assert.True(wrong.Count == 0, $"{caller}: " + string.Join("; ", wrong));
    }

    /// <summary>The route with every parameter set to a name nothing has, and an empty JSON object as the body of a change.</summary>
    private static async Task<HttpStatusCode> CallAsync(HttpClient http, string method, string pattern)
    {
        var path = System.Text.RegularExpressions.Regex.Replace(pattern, @"\{[^}]+\}", "no-such-thing");
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative));
        if (method is "POST" or "PUT" or "PATCH")
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        // Headers only: the event stream never ends by itself.
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return response.StatusCode;
    }
}
