using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Kldload.Dhcp.Dhcp6.Protocol;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Leases;

namespace Kldload.Provisioner.Tests.Api;

/// <summary>The admin API and the iPXE route against the real host on 127.0.0.1 and a real LiteDB file.</summary>
[Trait("Tier", "Integration")]
public sealed class AdminApiTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-api-").FullName;
    private readonly FixedImages _images = new();
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        _images.Channels["stable"] = FixedImages.Image("live", "1");
        _images.Channels["canary"] = FixedImages.Image("live", "2");
        _images.Images.Add(FixedImages.Image("live", "1"));
        _host = await TestHost.StartAsync(_dir, _images, "--Boot:DefaultChannel=stable");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<string> BootAsync(string mac, string platform = "efi")
    {
        var script = await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&uuid=4C4C4544-0000&arch=x86_64&platform={platform}&serial=SN%201", UriKind.Relative));
        return script;
    }

    private async Task<JsonElement> NodeAsync(string key) =>
        await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{key}", UriKind.Relative));

    [Fact]
    public async Task AdminRoutes_WithoutOrWithWrongToken_Are401ProblemJson()
    {
        var none = await _host.Http.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("application/problem+json", none.Content.Headers.ContentType?.MediaType);

        using var wrong = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/v1/nodes", UriKind.Relative));
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token-at-all");
        Assert.Equal(HttpStatusCode.Unauthorized, (await _host.Http.SendAsync(wrong)).StatusCode);

        using var decommission = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/v1/nodes/x/decommission", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, (await _host.Http.SendAsync(decommission)).StatusCode);
    }

    [Fact]
    public async Task AdminTokenFile_IsCreatedWithMode0600()
    {
        var mode = File.GetUnixFileMode(Path.Combine(_dir, "admin.token"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
        Assert.Equal(HttpStatusCode.OK, (await _host.Admin.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task BootIpxe_WithoutParameters_ChainsBack()
    {
        var script = await _host.Http.GetStringAsync(new Uri("/boot.ipxe", UriKind.Relative));
        Assert.StartsWith("#!ipxe\nchain http://127.0.0.1:", script, StringComparison.Ordinal);
        Assert.Contains("/boot.ipxe?mac=${mac}&uuid=${uuid}", script, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BootIpxe_NewNode_RecordsDiscoveredAndServesDefaultChannelWithToken()
    {
        var script = await BootAsync("52:54:00:10:00:01");
        Assert.Contains("/images/" + FixedImages.Image("live", "1").KernelDigest + " initrd=initrd console=ttyS0 kldload.server=http://127.0.0.1:", script, StringComparison.Ordinal);
        var token = script.Split("kldload.token=")[1].Split('\n')[0];
        Assert.Matches("^[A-Za-z0-9_-]{43}$", token);

        var nodes = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes", UriKind.Relative));
        var node = Assert.Single(nodes.EnumerateArray());
        Assert.Equal("Discovered", node.GetProperty("state").GetString());
        Assert.Equal("52:54:00:10:00:01", node.GetProperty("macs")[0].GetString());
        Assert.Equal("SN 1", node.GetProperty("serial").GetString());
        Assert.Equal(JsonValueKind.Null, node.GetProperty("meshAddress").ValueKind);
        Assert.Equal(JsonValueKind.Null, node.GetProperty("lastBootAt").ValueKind);

        var events = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{node.GetProperty("id").GetString()}/events", UriKind.Relative));
        Assert.Contains(events.EnumerateArray(), e => e.GetProperty("message").GetString()!.StartsWith("script: live 1", StringComparison.Ordinal));

        var check = _host.Service<BootTokens>().Check(token, "52:54:00:10:00:01", out _);
        Assert.Equal(BootTokenProblem.None, check);
        Assert.Equal(BootTokenProblem.WrongMac, _host.Service<BootTokens>().Check(token, "52:54:00:10:00:02", out _));
    }

    [Fact]
    public async Task BootIpxe_BadMac_Is400()
        => Assert.Equal(HttpStatusCode.BadRequest, (await _host.Http.GetAsync(new Uri("/boot.ipxe?mac=nope", UriKind.Relative))).StatusCode);

    [Fact]
    public async Task Reimage_ThenNextBootTakesTheNewChannel()
    {
        await BootAsync("52:54:00:10:00:03");
        var r = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/nodes/52:54:00:10:00:03/reimage", UriKind.Relative), new { channel = "canary" });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("Reimaging", (await NodeAsync("52:54:00:10:00:03")).GetProperty("state").GetString());
        Assert.Contains(" live 2 ", await BootAsync("52:54:00:10:00:03", "pcbios"), StringComparison.Ordinal);

        var unknown = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/nodes/52:54:00:10:00:03/reimage", UriKind.Relative), new { channel = "nope" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.StatusCode);
    }

    [Fact]
    public async Task Approve_DiscoveredNode_Is409AndStateUnchanged()
    {
        await BootAsync("52:54:00:10:00:04");
        var r = await _host.Admin.PostAsync(new Uri("/api/v1/nodes/52:54:00:10:00:04/approve", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
        Assert.Equal("Discovered", (await NodeAsync("52:54:00:10:00:04")).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Decommission_IsTerminal_FurtherChangesAre409()
    {
        await BootAsync("52:54:00:10:00:05");
        Assert.Equal(HttpStatusCode.OK, (await _host.Admin.PostAsync(new Uri("/api/v1/nodes/52:54:00:10:00:05/decommission", UriKind.Relative), null)).StatusCode);
        Assert.Equal("Decommissioned", (await NodeAsync("52:54:00:10:00:05")).GetProperty("state").GetString());
        var again = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/nodes/52:54:00:10:00:05/reimage", UriKind.Relative), new { channel = "stable" });
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        var history = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes/52:54:00:10:00:05/events", UriKind.Relative));
        Assert.Contains(history.EnumerateArray(), e => e.GetProperty("reason").GetString() == "Decommissioned" && e.GetProperty("actor").GetString()!.StartsWith("admin", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Replace_MovesNameLabelsAndMeshAddress()
    {
        await BootAsync("52:54:00:10:00:06");
        await BootAsync("52:54:00:10:00:07");
        var nodes = _host.Service<NodeService>();
        var old = nodes.Find("52:54:00:10:00:06")!;
        nodes.Update(old.Id, NodeEventKind.Operator, "test setup", "test", n =>
        {
            n.Name = "db-1";
            n.MeshAddress = "fd00::1234";
            n.Labels["role"] = "db";
            n.Location = new RelayLocation { CircuitId = Convert.ToHexStringLower("rack12/slot7"u8) };
        });
        var fresh = nodes.Find("52:54:00:10:00:07")!;
        nodes.Update(fresh.Id, NodeEventKind.Dhcp, "test setup", "test", n => n.Location = new RelayLocation { CircuitId = Convert.ToHexStringLower("rack12/slot7"u8), RemoteId = "0004000a" });

        var r = await _host.Admin.PostAsJsonAsync(new Uri($"/api/v1/nodes/{old.Id}/replace", UriKind.Relative), new { with = "52:54:00:10:00:07" });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var replacement = await NodeAsync("52:54:00:10:00:07");
        Assert.Equal("db-1", replacement.GetProperty("name").GetString());
        Assert.Equal("fd00::1234", replacement.GetProperty("meshAddress").GetString());
        Assert.Equal("db", replacement.GetProperty("labels").GetProperty("role").GetString());
        Assert.Equal(old.Id, replacement.GetProperty("replaces").GetString());
        Assert.Equal("circuit-id rack12/slot7 remote-id hex:0004000a", replacement.GetProperty("location").GetString());
        var history = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{fresh.Id}/events", UriKind.Relative));
        Assert.Contains(history.EnumerateArray(), e => e.GetProperty("message").GetString()!.Contains(
            "(was at circuit-id rack12/slot7) at circuit-id rack12/slot7 remote-id hex:0004000a", StringComparison.Ordinal));
        Assert.Equal("Replaced", (await NodeAsync(old.Id)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Profiles_PutGetDelete_AndEmptyMatchRefused()
    {
        var put = await _host.Admin.PutAsJsonAsync(new Uri("/api/v1/profiles/rack1", UriKind.Relative), new { priority = 3, match = new { serials = new[] { "SN 1" } }, channel = "canary" });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Contains(" live 2 ", await BootAsync("52:54:00:10:00:08"), StringComparison.Ordinal);

        var empty = await _host.Admin.PutAsJsonAsync(new Uri("/api/v1/profiles/bad", UriKind.Relative), new { match = new { } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, empty.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _host.Admin.DeleteAsync(new Uri("/api/v1/profiles/rack1", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _host.Admin.GetAsync(new Uri("/api/v1/profiles/rack1", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Leases_DhcpOff_Are409NamingTheSetting()
    {
        foreach (var r in new[]
        {
            await _host.Admin.GetAsync(new Uri("/api/v1/leases", UriKind.Relative)),
            await _host.Admin.GetAsync(new Uri("/api/v1/leases/10.0.0.100", UriKind.Relative)),
            await _host.Admin.DeleteAsync(new Uri("/api/v1/leases/10.0.0.100", UriKind.Relative)),
        })
        {
            Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
            Assert.Contains("Dhcp:Mode", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Leases6_Dhcp6Off_Are409NamingTheSetting()
    {
        foreach (var r in new[]
        {
            await _host.Admin.GetAsync(new Uri("/api/v1/leases6", UriKind.Relative)),
            await _host.Admin.GetAsync(new Uri("/api/v1/leases6/fd00:77::100", UriKind.Relative)),
            await _host.Admin.DeleteAsync(new Uri("/api/v1/leases6/fd00:77::100", UriKind.Relative)),
        })
        {
            Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
            Assert.Contains("Dhcp6:Mode", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Leases6_Release_FreesTheAddressAndRecordsIt()
    {
        await BootAsync("52:54:00:10:00:61");
        var store = new InMemoryDhcp6LeaseStore();
        var address = IPAddress.Parse("fd00:77::100");
        store.Save(new Dhcp6Lease
        {
            Address = address,
            ClientDuid = "00:03:00:01:52:54:00:10:00:61",
            Iaid = 1,
            HardwareAddress = "52:54:00:10:00:61",
            State = DhcpLeaseState.Active,
            Expires = DateTimeOffset.UtcNow.AddHours(1),
        });
        var options = new Dhcp6ServerOptions
        {
            Mode = Dhcp6ServerMode.Full,
            ServerDuid = Duid.FromMac([0x02, 0, 0, 0, 0, 0x01]),
            ServerAddress = IPAddress.Parse("fd00:77::1"),
            Subnets = [new Dhcp6Subnet { Prefix = IPNetwork.Parse("fd00:77::/64"), PoolStart = address, PoolEnd = IPAddress.Parse("fd00:77::1ff") }],
            Reservations = [],
        };
        _host.Service<Dhcp6Leases>().Publish(new Dhcp6Engine(options, store, new NoBoot(), TimeProvider.System));

        var released = await _host.Admin.DeleteAsync(new Uri("/api/v1/leases6/fd00:77::100", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, released.StatusCode);
        var lease = await released.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Released", lease.GetProperty("state").GetString());
        Assert.Equal(DhcpLeaseState.Released, store.LoadAll().Single().State);
        var history = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{lease.GetProperty("nodeId").GetString()}/events", UriKind.Relative));
        Assert.Contains(history.EnumerateArray(), e => e.GetProperty("message").GetString()!.StartsWith("DHCPv6 lease fd00:77::100 ", StringComparison.Ordinal));

        var again = await _host.Admin.DeleteAsync(new Uri("/api/v1/leases6/fd00:77::100", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("is Released", await again.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await _host.Admin.DeleteAsync(new Uri("/api/v1/leases6/fd00:77::101", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await _host.Admin.DeleteAsync(new Uri("/api/v1/leases6/10.0.0.1", UriKind.Relative))).StatusCode);
    }

    private sealed class NoBoot : IDhcpBootPolicy
    {
        public BootAnswer? Decide(BootClient client) => null;
    }

    [Fact]
    public async Task OpenApiDocument_ListsAdminRoutes()
    {
        var doc = await _host.Http.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        Assert.Contains("/api/v1/nodes/{id}/reimage", doc, StringComparison.Ordinal);
        Assert.Contains("/api/v1/leases/{address}", doc, StringComparison.Ordinal);
        Assert.Contains("/api/v1/leases6/{address}", doc, StringComparison.Ordinal);
    }
}
