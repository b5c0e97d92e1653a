using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;
using Kldload.Provisioner.Storage;
using Npgsql;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// Two provisioners (real hosts, in one process) on one PostgreSQL database tell each other about
/// changes with LISTEN/NOTIFY: the live event stream of B shows what A records, a token revoked on A
/// is refused by B, a mesh key revoked on A is off B's roster, and the LISTEN connection comes back
/// after its server process is killed.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class ClusterNotificationsTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private TwoInstances _hosts = null!;

    public async Task InitializeAsync()
    {
        _hosts = await TwoInstances.StartAsync(postgres.CreateDatabase(), "kldload-cluster-");
        await _hosts.A.Service<PostgresClusterNotifications>().Listening.WaitAsync(Patience);
        await _hosts.B.Service<PostgresClusterNotifications>().Listening.WaitAsync(Patience);
    }

    public Task DisposeAsync() => _hosts.DisposeAsync().AsTask();

    /// <summary>Opens B's live stream and waits until it is subscribed (the server writes its comment line after subscribing).</summary>
    private static async Task<(HttpResponseMessage Response, StreamReader Reader)> OpenStreamAsync(TestHost host)
    {
        var response = await host.Admin.GetAsync(new Uri("/api/v1/events/stream", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal(": kldload events", await reader.ReadLineAsync());
        return (response, reader);
    }

    /// <summary>Reads the stream until the event with sequence number <paramref name="eventId"/> arrives.</summary>
    private static async Task<JsonElement> EventAsync(StreamReader reader, long eventId)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                var e = JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone();
                if (e.GetProperty("id").GetInt64() == eventId)
                {
                    return e;
                }
            }
        }

        throw new EndOfStreamException("the event stream ended");
    }

    private async Task<(string Id, JsonElement LastEvent)> DiscoverOnAAsync(string mac)
    {
        await _hosts.A.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative));
        var node = await _hosts.A.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
        var id = node.GetProperty("id").GetString()!;
        var events = await _hosts.A.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{id}/events", UriKind.Relative));
        return (id, events.EnumerateArray().Last());
    }

    [Fact]
    public async Task EventRecordedThroughA_ArrivesOnTheLiveStreamOfB()
    {
        var (response, reader) = await OpenStreamAsync(_hosts.B);
        using (response)
        using (reader)
        {
            var (id, recorded) = await DiscoverOnAAsync("52:54:00:17:00:01");

            var arrived = await EventAsync(reader, recorded.GetProperty("id").GetInt64());
            Assert.Equal(id, arrived.GetProperty("nodeId").GetString());
            Assert.Equal(recorded.GetProperty("message").GetString(), arrived.GetProperty("message").GetString());
            Assert.Equal(recorded.GetProperty("kind").GetString(), arrived.GetProperty("kind").GetString());
        }
    }

    [Fact]
    public async Task TokenCreatedOnA_AcceptedByB_ThenRevokedOnA_RefusedByB()
    {
        var created = await _hosts.A.Admin.PostAsJsonAsync(new Uri("/api/v1/tokens", UriKind.Relative), new { name = "dash", role = "viewer" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var onB = new HttpClient { BaseAddress = _hosts.B.Http.BaseAddress };
        onB.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString());

        Assert.Equal(HttpStatusCode.OK, await StatusOnceSettledAsync(onB, HttpStatusCode.OK));
        Assert.Equal(HttpStatusCode.OK, (await _hosts.A.Admin.PostAsync(new Uri("/api/v1/tokens/dash/revoke", UriKind.Relative), null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusOnceSettledAsync(onB, HttpStatusCode.Unauthorized));
    }

    /// <summary>The status of <c>GET /api/v1/nodes</c> once it is <paramref name="expected"/>, or the last one seen when B never gets there.</summary>
    private static async Task<HttpStatusCode> StatusOnceSettledAsync(HttpClient client, HttpStatusCode expected)
    {
        using var timeout = new CancellationTokenSource(Patience);
        HttpStatusCode status;
        do
        {
            try
            {
                status = (await client.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative))).StatusCode;
            }
            catch (HttpRequestException)
            {
                // A revocation ends the requests running under the token: a request caught in flight
                // is cut off. Ask again; the next one gets the answer to assert.
                status = 0;
                continue;
            }

            if (status == expected)
            {
                break;
            }

            await Task.Delay(50);
        }
        while (!timeout.IsCancellationRequested);
        return status;
    }

    [Fact]
    public async Task MeshKeyRevokedOnA_IsOffTheRosterOfB()
    {
        var key = WireGuardKey.PublicKeyOf(RandomNumberGenerator.GetBytes(32));
        _hosts.A.Service<MeshRoster>().Upsert(new MeshMember { NodeId = "n17", PublicKey = key, Address6 = IPAddress.Parse("fd17:0:0:1::17") });
        var rosterB = _hosts.B.Service<MeshRoster>();
        await WaitForAsync(() => rosterB.Find("n17") is not null);

        Assert.True(_hosts.A.Service<MeshIdentityService>().Revoke("n17"));

        await WaitForAsync(() => rosterB.IsRevoked(key));
        Assert.Null(rosterB.Find("n17"));
        Assert.Equal(_hosts.A.Service<MeshRoster>().Epoch, rosterB.Epoch);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (!condition())
        {
            await Task.Delay(20, timeout.Token);
        }
    }

    [Fact]
    public async Task ListenConnectionKilled_ReconnectsAndEventsFlowAgain()
    {
        var listener = _hosts.B.Service<PostgresClusterNotifications>();
        var connections = listener.Connections;
        var pid = listener.ListenerProcessId;
        Assert.NotEqual(0, pid);

        await using (var admin = new NpgsqlConnection(_hosts.ConnectionString))
        {
            await admin.OpenAsync();
            await using var kill = new NpgsqlCommand("SELECT pg_terminate_backend(@pid)", admin);
            kill.Parameters.AddWithValue("pid", pid);
            Assert.Equal(true, await kill.ExecuteScalarAsync());
        }

        await WaitForAsync(() => listener.Connections > connections);
        await listener.Listening.WaitAsync(Patience);
        Assert.NotEqual(pid, listener.ListenerProcessId);

        var (response, reader) = await OpenStreamAsync(_hosts.B);
        using (response)
        using (reader)
        {
            var (id, recorded) = await DiscoverOnAAsync("52:54:00:17:00:02");
            Assert.Equal(id, (await EventAsync(reader, recorded.GetProperty("id").GetInt64())).GetProperty("nodeId").GetString());
        }
    }
}
