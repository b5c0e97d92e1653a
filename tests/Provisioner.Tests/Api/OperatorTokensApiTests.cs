using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Kldload.Provisioner.Tests.Api;

/// <summary>Named tokens over the admin API on the real host: who a change is recorded as, and revocation.</summary>
[Trait("Tier", "Integration")]
public sealed class OperatorTokensApiTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-optok-").FullName;
    private TestHost _host = null!;

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(_dir);

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<HttpClient> ClientAsync(string name, string role)
    {
        var r = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/tokens", UriKind.Relative), new { name, role });
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var client = new HttpClient { BaseAddress = _host.Http.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString());
        return client;
    }

    private async Task<string> DiscoverAsync(string mac)
    {
        await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative));
        var node = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
        return node.GetProperty("id").GetString()!;
    }

    private async Task<string?> LastActorAsync(string id)
    {
        var events = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{id}/events", UriKind.Relative));
        return events.EnumerateArray().Last().GetProperty("actor").GetString();
    }

    [Fact]
    public async Task History_RecordsTheTokenNameAndIgnoresTheActorHeader()
    {
        var id = await DiscoverAsync("52:54:00:23:00:01");
        using var alice = await ClientAsync("alice", "operator");

        using var patch = new HttpRequestMessage(HttpMethod.Patch, new Uri($"/api/v1/nodes/{id}", UriKind.Relative)) { Content = JsonContent.Create(new { labels = new { rack = "r1" } }) };
        patch.Headers.Add("X-Kldload-Actor", "mallory");
        Assert.Equal(HttpStatusCode.OK, (await alice.SendAsync(patch)).StatusCode);
        Assert.Equal("alice", await LastActorAsync(id));

        var r = await _host.Admin.PatchAsJsonAsync(new Uri($"/api/v1/nodes/{id}", UriKind.Relative), new { labels = new { rack = "r2" } });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("admin", await LastActorAsync(id));
    }

    [Fact]
    public async Task Revoke_RefusesTheNextRequestAndCutsAnOpenEventStream()
    {
        using var viewer = await ClientAsync("dash", "viewer");
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative))).StatusCode);

        using var stream = await viewer.GetAsync(new Uri("/api/v1/events/stream", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal(": kldload events", await reader.ReadLineAsync());

        Assert.Equal(HttpStatusCode.OK, (await _host.Admin.PostAsync(new Uri("/api/v1/tokens/dash/revoke", UriKind.Relative), null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await viewer.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative))).StatusCode);

        // The stream opened before the revocation ends (the server aborts it) instead of staying open.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var ended = false;
        try
        {
            ended = await reader.ReadToEndAsync(timeout.Token) is not null;
        }
        catch (IOException)
        {
            ended = true;
        }
        catch (HttpRequestException)
        {
            ended = true;
        }

        Assert.True(ended);
        Assert.False(timeout.IsCancellationRequested);
    }

    [Fact]
    public async Task Tokens_ListShowsRolesAndRevocationButNeverTheToken()
    {
        using var ci = await ClientAsync("ci", "admin");
        using var made = await ci.PostAsJsonAsync(new Uri("/api/v1/tokens", UriKind.Relative), new { name = "night-shift", role = "operator" });
        Assert.Equal(HttpStatusCode.Created, made.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ci.PostAsync(new Uri("/api/v1/tokens/night-shift/revoke", UriKind.Relative), null)).StatusCode);

        var text = await _host.Admin.GetStringAsync(new Uri("/api/v1/tokens", UriKind.Relative));
        Assert.DoesNotContain("kldt_", text, StringComparison.Ordinal);
        Assert.DoesNotContain("hash", text, StringComparison.OrdinalIgnoreCase);
        var list = JsonDocument.Parse(text).RootElement.EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        Assert.Equal(["ci", "night-shift"], list.Keys.Order());
        Assert.Equal("admin", list["ci"].GetProperty("role").GetString());
        Assert.Equal("admin", list["ci"].GetProperty("createdBy").GetString());
        Assert.Equal(JsonValueKind.String, list["ci"].GetProperty("lastUsed").ValueKind);
        Assert.Equal(JsonValueKind.Null, list["ci"].GetProperty("revoked").ValueKind);
        Assert.Equal("ci", list["night-shift"].GetProperty("createdBy").GetString());
        Assert.Equal(JsonValueKind.String, list["night-shift"].GetProperty("revoked").ValueKind);

        Assert.Equal(HttpStatusCode.Conflict, (await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/tokens", UriKind.Relative), new { name = "ci", role = "viewer" })).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/tokens", UriKind.Relative), new { name = "admin", role = "viewer" })).StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/tokens", UriKind.Relative), new { name = "Bad Name", role = "viewer" })).StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/tokens", UriKind.Relative), new { name = "x", role = "root" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _host.Admin.PostAsync(new Uri("/api/v1/tokens/nobody/revoke", UriKind.Relative), null)).StatusCode);
    }

    [Fact]
    public async Task Forbidden_NamesTheRoleAndWhatTheRouteNeeds()
    {
        using var viewer = await ClientAsync("eve", "viewer");
        var r = await viewer.PostAsync(new Uri("/api/v1/nodes/x/decommission", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        Assert.Equal(
            "token eve has the viewer role; POST /api/v1/nodes/{id}/decommission needs operator",
            (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
    }
}
