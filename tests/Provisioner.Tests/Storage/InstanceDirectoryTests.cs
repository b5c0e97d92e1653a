using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kldload.Dhcp.LoadBalancing;
using Kldload.ImageStore;
using Kldload.MeshCA.Distribution;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// Two running instances on one PostgreSQL database and the rows of a third that stopped two hours ago
/// (its hub and blobs): each lists itself first, then the others with what they left in the shared
/// tables; the stopped one is forgotten through the admin API and its rows are gone (an instance seen
/// lately only with force, the answering one never).
/// </summary>
[Trait("Tier", "Integration")]
public sealed class InstanceDirectoryTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private TwoInstances _hosts = null!;

    public async Task InitializeAsync() => _hosts = await TwoInstances.StartAsync(postgres.CreateDatabase(), "kldload-instances-");

    public Task DisposeAsync() => _hosts.DisposeAsync().AsTask();

    [Fact]
    public async Task List_BothInstancesWithWhatEachLeft_ThenForgetTheStoppedOne()
    {
        var idA = _hosts.A.Service<InstanceIdentity>().Name;
        var idB = _hosts.B.Service<InstanceIdentity>().Name;
        const string gone = "site-gone-0001";
        var database = _hosts.A.Service<PostgresKldloadDatabase>();
        var stale = DateTimeOffset.UtcNow.AddHours(-2);

        // What each instance left: the stopped one a hub and blobs, two hours ago; A a DHCP role, now.
        _hosts.B.Service<IMeshRosterStore>().SaveHub(new MeshHubRecord { InstanceId = gone, PublicKey = new byte[32], Endpoint = "192.0.2.2:51820", SeenAt = stale });
        _hosts.B.Service<IBlobLocations>().Publish(gone, new Uri("http://192.0.2.2:8080/"), [Sha256Digest.Of([1]), Sha256Digest.Of([2])]);
        using (var command = database.DataSource.CreateCommand("UPDATE image_blob_holders SET seen = now() - interval '2 hours'"))
        {
            command.ExecuteNonQuery();
        }

        new PostgresDhcpPeerHeartbeat(database, new DhcpPeerLink("10.0.0.0/16", DhcpLoadBalancingRole.Primary, idA, TimeSpan.FromSeconds(10))).Beat();

        var listed = await _hosts.A.Admin.GetFromJsonAsync<JsonElement>("/api/v1/instances");
        Assert.Equal([idA, gone], listed.EnumerateArray().Select(i => i.GetProperty("id").GetString()));
        var a = listed[0];
        var b = listed[1];
        Assert.True(a.GetProperty("self").GetBoolean());
        Assert.Equal("10.0.0.0/16", a.GetProperty("dhcp")[0].GetProperty("segment").GetString());
        Assert.Equal("primary", a.GetProperty("dhcp")[0].GetProperty("role").GetString());
        Assert.False(b.GetProperty("self").GetBoolean());
        Assert.Equal("192.0.2.2:51820", b.GetProperty("hubEndpoint").GetString());
        Assert.Equal(2, b.GetProperty("blobs").GetInt32());
        Assert.Equal("http://192.0.2.2:8080/", b.GetProperty("blobUrl").GetString());

        // B lists itself first (it left no rows), then the others.
        var fromB = await _hosts.B.Admin.GetFromJsonAsync<JsonElement>("/api/v1/instances");
        Assert.Equal([idB, .. new[] { idA, gone }.Order(StringComparer.Ordinal)], fromB.EnumerateArray().Select(i => i.GetProperty("id").GetString()));

        // The answering instance is never forgotten; one seen lately only with force; unknown: 404.
        Assert.Equal(HttpStatusCode.Conflict, (await _hosts.A.Admin.DeleteAsync(new Uri($"/api/v1/instances/{idA}", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await _hosts.B.Admin.DeleteAsync(new Uri($"/api/v1/instances/{idA}", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _hosts.A.Admin.DeleteAsync(new Uri("/api/v1/instances/nobody", UriKind.Relative))).StatusCode);

        // Last seen two hours ago: forgotten without force, its three rows gone.
        var forgotten = await _hosts.A.Admin.DeleteAsync(new Uri($"/api/v1/instances/{gone}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, forgotten.StatusCode);
        Assert.Equal(3, (await forgotten.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("removedRows").GetInt32());
        Assert.Empty(_hosts.A.Service<IMeshRosterStore>().Hubs());
        var after = await _hosts.A.Admin.GetFromJsonAsync<JsonElement>("/api/v1/instances");
        Assert.Equal([idA], after.EnumerateArray().Select(i => i.GetProperty("id").GetString()));

        // With force, a recently seen instance goes as well (A's heartbeat row, from B).
        Assert.Equal(HttpStatusCode.OK, (await _hosts.B.Admin.DeleteAsync(new Uri($"/api/v1/instances/{idA}?force=true", UriKind.Relative))).StatusCode);
    }
}
