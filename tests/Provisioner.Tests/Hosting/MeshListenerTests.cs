using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kldload.Provisioner.Listeners;
using Kldload.Provisioner.Tests.Attestation;
using Kldload.Tpm.Device;

namespace Kldload.Provisioner.Tests.Hosting;

/// <summary>Which hub endpoints kldload must listen on itself, given <c>--urls</c>.</summary>
public class MeshListenEndpointsTests
{
    private static readonly IPAddress Hub6 = IPAddress.Parse("fd12:3456:789a:1::1");
    private static readonly IPAddress Hub4 = IPAddress.Parse("100.64.0.1");

    private static string[] Missing(string urls, int port = 8080) =>
        [.. MeshHttpListener.MissingEndpoints([.. urls.Split(';').Select(u => new Uri(u))], [Hub6, Hub4], port).Select(e => e.ToString())];

    [Fact]
    public void MissingEndpoints_LanAddressOnly_BothHubAddressesAtTheServerPort() =>
        Assert.Equal(["[fd12:3456:789a:1::1]:8080", "100.64.0.1:8080"], Missing("http://10.77.0.1:8080"));

    [Fact]
    public void MissingEndpoints_Ipv6WildcardOnThePort_NoneSinceKestrelBindsDualStack() =>
        Assert.Empty(Missing("http://[::]:8080"));

    [Fact]
    public void MissingEndpoints_Ipv4WildcardOnThePort_OnlyTheIpv6Hub() =>
        Assert.Equal(["[fd12:3456:789a:1::1]:8080"], Missing("http://0.0.0.0:8080"));

    [Fact]
    public void MissingEndpoints_WildcardOnAnotherPort_BothAtTheServerPort() =>
        Assert.Equal(2, Missing("http://[::]:9090").Length);

    [Fact]
    public void MissingEndpoints_HubAddressListedExactly_OnlyTheOther() =>
        Assert.Equal(["100.64.0.1:8080"], Missing("http://127.0.0.1:8080;http://[fd12:3456:789a:1::1]:8080"));

    [Fact]
    public void MissingEndpoints_Localhost_BothSinceLoopbackIsNotTheHub() =>
        Assert.Equal(2, Missing("http://localhost:8080").Length);
}

/// <summary>
/// The real host with the hub up (wireguard-go, an interface of its own name, a mesh prefix of its
/// own) and <c>--urls</c> on 127.0.0.1 only: the ready endpoint still answers on the hub's mesh
/// address, and only the mesh routes do. Every request goes to addresses of this host (loopback
/// routing); the interface is removed when the host stops.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class MeshListenerHostTests : IAsyncLifetime
{
    private MeshHubHost _hub = null!;

    public async Task InitializeAsync() => _hub = await MeshHubHost.StartAsync("klt");

    public Task DisposeAsync() => _hub.DisposeAsync().AsTask();

    [Fact]
    public async Task Ready_UrlsOnLoopbackOnly_AnsweredOnTheHubMeshAddressWhichServesNothingElse()
    {
        const string mac = "52:54:00:4d:45:01";
        using var node = new SwtpmNode();
        using var tpm = node.Connect();
        using var ek = EndorsementKey.Create(tpm, EkKind.RsaL1);
        using var ak = AttestationKey.Create(tpm, ek, TpmTemplates.AkRsa2048());
        var (_, wg) = node.WireGuardKey();

        // Challenge, quote and activate over the boot LAN listener (--urls, 127.0.0.1).
        var (sessionId, nonce) = await Agent.ChallengeAsync(_hub.Host.Http, await Agent.BootTokenAsync(_hub.Host.Http, mac), mac);
        var quote = await Agent.PostAsync(_hub.Host.Http, "quote", Agent.BuildQuote(tpm, ek, ak, sessionId, nonce, wg));
        Assert.True(quote.IsSuccessStatusCode, await quote.Content.ReadAsStringAsync());
        var proof = Agent.Proof(ek, ak, await quote.Content.ReadFromJsonAsync<JsonElement>(), sessionId);
        var activate = await Agent.PostAsync(_hub.Host.Http, "activate", new { sessionId, proof });
        Assert.True(activate.IsSuccessStatusCode, await activate.Content.ReadAsStringAsync());
        var meshAddress = IPAddress.Parse((await activate.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("meshAddress").GetString()!);

        // The ready route answers on the hub address: from the hub's own address it is refused as not
        // coming from the node's mesh address (the endpoint ran its check), not connection refused.
        using (var fromHub = _hub.MeshClient())
        {
            var refused = await Agent.PostAsync(fromHub, "ready", new { sessionId });
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("not-via-mesh", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());

            // Nothing else is served there: not the admin API (even with the token), the boot LAN routes, health.
            using var adminRequest = new HttpRequestMessage(HttpMethod.Get, "/api/v1/nodes");
            adminRequest.Headers.Authorization = _hub.Host.Admin.DefaultRequestHeaders.Authorization;
            Assert.Equal(HttpStatusCode.NotFound, (await fromHub.SendAsync(adminRequest)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await fromHub.GetAsync(new Uri($"/boot.ipxe?mac={mac}", UriKind.Relative))).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await fromHub.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await fromHub.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);
        }

        // The node's mesh address, put on the hub interface for this test, stands in for the tunnel's far end.
        _hub.AddAddress(meshAddress);
        using (var fromNode = _hub.MeshClient(meshAddress))
        {
            var ready = await Agent.PostAsync(fromNode, "ready", new { sessionId });
            Assert.True(ready.IsSuccessStatusCode, await ready.Content.ReadAsStringAsync());
            Assert.Equal("Ready", (await ready.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
        }

        // The admin API is where --urls put it, and only there.
        var nodes = await _hub.Host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
        Assert.Equal("Ready", nodes.GetProperty("state").GetString());
        Assert.All(_hub.Host.Service<Kldload.Provisioner.Boot.ServerUrl>().ListenUrls.Take(1), u => Assert.StartsWith("http://127.0.0.1:", u, StringComparison.Ordinal));
    }
}
