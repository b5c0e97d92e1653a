using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Kldload.MeshCA;
using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Distribution;
using Kldload.Provisioner.Tests.Attestation;
using Kldload.Tpm.Device;

namespace Kldload.Provisioner.Tests.Mesh;

/// <summary>
/// The resident agents' control channel on the real host, hub up on wireguard-go, <c>--urls</c> on
/// 127.0.0.1, <c>Mesh:Topology=FullMesh</c>. A node attests with swtpm; its mesh address is put on the
/// hub interface (standing in for the tunnel's far end) and its watch leaves from there. Every request
/// goes to addresses of this host; the interface is removed when the host stops.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class ControlChannelHostTests : IAsyncLifetime
{
    private MeshHubHost _hub = null!;

    public async Task InitializeAsync() => _hub = await MeshHubHost.StartAsync("klc", "--Mesh:Topology=FullMesh", "--Mesh:CertificateLifetime=01:00:00");

    public Task DisposeAsync() => _hub.DisposeAsync().AsTask();

    private MeshIdentityService Mesh => _hub.Host.Service<MeshIdentityService>();

    /// <summary>A client on the hub's mesh address whose connections leave from <paramref name="source"/>.</summary>
    private HttpClient MeshClient(IPAddress? source) => _hub.MeshClient(source, TimeSpan.FromSeconds(60));

    private static Task<HttpResponseMessage> Watch(HttpClient http, ulong applied, int waitSeconds = 60, object[]? peers = null) =>
        http.PostAsJsonAsync(new Uri("/api/v1/mesh/watch", UriKind.Relative), new { appliedEpoch = applied, waitSeconds, agentState = "watching", peers = peers ?? [] });

    /// <summary>Verifies the watch answer's bundle as a node does; returns it.</summary>
    private PeerBundle Verified(PeerBundleVerifier verifier, JsonElement answer)
    {
        var envelope = Encoding.UTF8.GetBytes(answer.GetProperty("peerBundle").GetRawText());
        Assert.True(SignedPeerBundle.TryParse(envelope, out var signed, out var error), error);
        Assert.Equal(BundleVerdict.Accepted, verifier.Offer(signed!, out var problem));
        Assert.Null(problem);
        return verifier.Current!;
    }

    /// <summary>A node with its own swtpm attests through the real endpoints; returns the activation answer and its key.</summary>
    private async Task<(JsonElement Activation, byte[] Key)> AttestAsync(SwtpmNode node, string mac)
    {
        using var tpm = node.Connect();
        using var ek = EndorsementKey.Create(tpm, EkKind.RsaL1);
        using var ak = AttestationKey.Create(tpm, ek, TpmTemplates.AkRsa2048());
        var (_, wg) = node.WireGuardKey();
        var (sessionId, nonce) = await Agent.ChallengeAsync(_hub.Host.Http, await Agent.BootTokenAsync(_hub.Host.Http, mac), mac);
        var quote = await Agent.PostAsync(_hub.Host.Http, "quote", Agent.BuildQuote(tpm, ek, ak, sessionId, nonce, wg));
        Assert.True(quote.IsSuccessStatusCode, await quote.Content.ReadAsStringAsync());
        var activate = await Agent.PostAsync(_hub.Host.Http, "activate", new { sessionId, proof = Agent.Proof(ek, ak, await quote.Content.ReadFromJsonAsync<JsonElement>(), sessionId) });
        Assert.True(activate.IsSuccessStatusCode, await activate.Content.ReadAsStringAsync());
        return (await activate.Content.ReadFromJsonAsync<JsonElement>(), wg);
    }

    /// <summary>
    /// The operator's key rotation and replacement of one node (admin API) answer another node's held
    /// watch with a bundle that no longer holds the old key and lists it as revoked: both reach every
    /// connected node through the control channel, not only the hub.
    /// </summary>
    [Theory]
    [InlineData("rotate-key")]
    [InlineData("replace")]
    public async Task Watch_OtherNodeKeyRotatedOrReplacedByTheOperator_HeldWatchGetsBundleWithoutTheOldKey(string action)
    {
        using var watcherTpm = new SwtpmNode();
        using var otherTpm = new SwtpmNode();
        var (watcher, _) = await AttestAsync(watcherTpm, "52:54:00:4d:46:11");
        var (other, otherKey) = await AttestAsync(otherTpm, "52:54:00:4d:46:12");
        var watcherId = watcher.GetProperty("nodeId").GetString()!;
        var otherId = other.GetProperty("nodeId").GetString()!;
        var meshAddress = IPAddress.Parse(watcher.GetProperty("meshAddress").GetString()!);
        var verifier = new PeerBundleVerifier(MeshCertificateAuthority.RootsOf(watcher.GetProperty("caBundle").GetString()!), watcherId, TimeProvider.System);
        _hub.AddAddress(meshAddress);
        using var fromNode = MeshClient(meshAddress);

        var first = await Watch(fromNode, 0);
        Assert.True(first.IsSuccessStatusCode, await first.Content.ReadAsStringAsync());
        var current = Verified(verifier, await first.Content.ReadFromJsonAsync<JsonElement>());
        Assert.Contains(current.Peers, p => p.PublicKey.AsSpan().SequenceEqual(otherKey));

        // The watch reports the node's handshakes: the node list (the dashboard's table) shows the latest.
        var handshake = DateTimeOffset.UtcNow.AddSeconds(-7);
        var held = Watch(fromNode, current.Epoch, peers:
        [
            new { publicKey = Convert.ToBase64String(current.Peers[0].PublicKey), lastHandshake = handshake.AddMinutes(-2), rxBytes = 10, txBytes = 20 },
            new { publicKey = Convert.ToBase64String(otherKey), lastHandshake = handshake, rxBytes = 1, txBytes = 2 },
        ]);
        await WaitForAsync(async () =>
        {
            var view = await _hub.Host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{watcherId}", UriKind.Relative));
            return view.TryGetProperty("controlChannel", out var c) && c.ValueKind == JsonValueKind.Object && c.GetProperty("appliedEpoch").GetUInt64() == current.Epoch ? c : (JsonElement?)null;
        });
        Assert.False(held.IsCompleted);
        var listed = (await _hub.Host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes", UriKind.Relative))).EnumerateArray().ToList();
        Assert.Equal(handshake.ToUnixTimeSeconds(), listed.Single(n => n.GetProperty("id").GetString() == watcherId).GetProperty("lastHandshake").GetDateTimeOffset().ToUnixTimeSeconds());
        var silent = listed.Single(n => n.GetProperty("id").GetString() == otherId);
        Assert.True(!silent.TryGetProperty("lastHandshake", out var none) || none.ValueKind == JsonValueKind.Null, "a node that never called shows a handshake");

        HttpResponseMessage done;
        if (action == "replace")
        {
            // New hardware seen once on the LAN (a boot script fetched): the replacement.
            await Agent.BootTokenAsync(_hub.Host.Http, "52:54:00:4d:46:13");
            var nodes = await _hub.Host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes", UriKind.Relative));
            var fresh = nodes.EnumerateArray().Single(n => n.GetProperty("macs").EnumerateArray().Any(m => m.GetString() == "52:54:00:4d:46:13")).GetProperty("id").GetString();
            done = await _hub.Host.Admin.PostAsJsonAsync(new Uri($"/api/v1/nodes/{otherId}/replace", UriKind.Relative), new { with = fresh });
        }
        else
        {
            done = await _hub.Host.Admin.PostAsync(new Uri($"/api/v1/nodes/{otherId}/{action}", UriKind.Relative), null);
        }

        Assert.True(done.IsSuccessStatusCode, await done.Content.ReadAsStringAsync());
        var changed = await held.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(changed.IsSuccessStatusCode, await changed.Content.ReadAsStringAsync());
        var after = Verified(verifier, await changed.Content.ReadFromJsonAsync<JsonElement>());
        Assert.True(after.Epoch > current.Epoch);
        Assert.DoesNotContain(after.Peers, p => p.PublicKey.AsSpan().SequenceEqual(otherKey));
        Assert.Contains(after.Revoked, k => k.AsSpan().SequenceEqual(otherKey));
    }

    [Fact]
    public async Task Watch_FromMemberAddress_HeldUntilTheMeshChangesThenSignedBundleDecommissionOnTheDenylist()
    {
        const string mac = "52:54:00:4d:46:01";
        using var node = new SwtpmNode();
        var (activation, _) = await AttestAsync(node, mac);
        var nodeId = activation.GetProperty("nodeId").GetString()!;
        var meshAddress = IPAddress.Parse(activation.GetProperty("meshAddress").GetString()!);
        var roots = MeshCertificateAuthority.RootsOf(activation.GetProperty("caBundle").GetString()!);
        var verifier = new PeerBundleVerifier(roots, nodeId, TimeProvider.System);
        var epoch = Mesh.Roster.Epoch;

        // Not from a member's address: the hub's own address over the mesh listener, and the LAN listener.
        using (var fromHub = MeshClient(null))
        {
            var refused = await Watch(fromHub, epoch);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("not-a-member", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await Watch(_hub.Host.Http, epoch)).StatusCode);

        _hub.AddAddress(meshAddress);
        using var fromNode = MeshClient(meshAddress);

        // An older epoch is answered at once with the current bundle.
        var first = await Watch(fromNode, 0);
        Assert.True(first.IsSuccessStatusCode, await first.Content.ReadAsStringAsync());
        var firstAnswer = await first.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(epoch, firstAnswer.GetProperty("epoch").GetUInt64());
        Assert.True(firstAnswer.GetProperty("lockPublicNic").GetBoolean());
        Assert.Equal(9100, firstAnswer.GetProperty("metricsPort").GetInt32());
        Assert.Equal(["hub"], Verified(verifier, firstAnswer).Peers.Select(p => p.Name));

        // At the current epoch the watch is held open; the operator's view shows it connected.
        var held = Watch(fromNode, epoch);
        var status = await WaitForAsync(async () =>
        {
            var view = await _hub.Host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{nodeId}", UriKind.Relative));
            return view.TryGetProperty("controlChannel", out var c) && c.ValueKind == JsonValueKind.Object && c.GetProperty("appliedEpoch").GetUInt64() == epoch ? c : (JsonElement?)null;
        });
        Assert.True(status.GetProperty("connected").GetBoolean());
        Assert.Equal("watching", status.GetProperty("agentState").GetString());
        Assert.False(held.IsCompleted);

        // Another node enrols: the held watch is answered with a bundle naming it as a direct peer.
        var otherPrivate = RandomNumberGenerator.GetBytes(32);
        WireGuardKey.Clamp(otherPrivate);
        var otherKey = WireGuardKey.PublicKeyOf(otherPrivate);
        Mesh.Enroll("other-node", SHA256.HashData("other-ek"u8), otherKey, 0, "192.0.2.7:51820");
        var changed = await (await held).Content.ReadFromJsonAsync<JsonElement>();
        var withOther = Verified(verifier, changed);
        Assert.Equal(Mesh.Roster.Epoch, withOther.Epoch);
        Assert.Equal(["hub", "other-node"], withOther.Peers.Select(p => p.Name));

        // Decommissioned: the next answer drops the peer and lists its key as revoked.
        var next = Watch(fromNode, withOther.Epoch);
        Assert.True(Mesh.Decommission("other-node"));
        var without = Verified(verifier, await (await next).Content.ReadFromJsonAsync<JsonElement>());
        Assert.Equal(["hub"], without.Peers.Select(p => p.Name));
        Assert.Contains(without.Revoked, k => k.AsSpan().SequenceEqual(otherKey));

        // Renewal: a new certificate of the same identity, valid for the configured lifetime from now.
        var renewal = await fromNode.PostAsync(new Uri("/api/v1/mesh/certificate", UriKind.Relative), null);
        Assert.True(renewal.IsSuccessStatusCode, await renewal.Content.ReadAsStringAsync());
        using var certificate = X509Certificate2.CreateFromPem((await renewal.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("certificate").GetString()!);
        Assert.Equal($"O=kldload, OU=mesh, CN={nodeId}", certificate.Subject);
        Assert.InRange(certificate.NotAfter.ToUniversalTime(), DateTime.UtcNow.AddMinutes(55), DateTime.UtcNow.AddMinutes(61));
        var caBundle = new X509Certificate2Collection();
        caBundle.ImportFromPem(activation.GetProperty("caBundle").GetString()!);
        var intermediate = caBundle.Single(c => c.Subject != c.Issuer);
        Assert.True(MeshCertificateAuthority.ChainsToTrustedRoot(certificate, roots, DateTimeOffset.UtcNow, out var why, intermediate), why);

        // This node decommissioned: its watch is told so (410), and it can renew nothing.
        var mine = Watch(fromNode, without.Epoch);
        await WaitForAsync(async () =>
        {
            var view = await _hub.Host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{nodeId}", UriKind.Relative));
            return view.GetProperty("controlChannel").GetProperty("appliedEpoch").GetUInt64() == without.Epoch ? view : (JsonElement?)null;
        });
        Assert.True(Mesh.Decommission(nodeId));
        var gone = await mine;
        Assert.Equal(HttpStatusCode.Gone, gone.StatusCode);
    }

    private static async Task<JsonElement> WaitForAsync(Func<Task<JsonElement?>> probe)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            await Task.Delay(50);
        }

        Assert.Fail("the condition was not met within 10 s");
        return default;
    }
}
