using Kldload.MeshCA.Distribution;

namespace Kldload.MeshCA.Tests.Distribution;

/// <summary>
/// Two provisioners on one roster store (two sites on one PostgreSQL, here one LiteDB file): each hub
/// peers with the other and routes to it the host addresses of the members homed there; nodes peer
/// directly only within their own site; a node that attests through the other site moves with its routes.
/// </summary>
public class HubPeeringTests
{
    private static IReadOnlyList<string> Routes(MeshPeer peer) => [.. peer.AllowedIps.Select(n => n.ToString())];

    private static List<string> HostRoutes(MeshMember m) => [$"{m.Address6}/128", $"{m.Address4}/32"];

    [Fact]
    public void HubConfiguration_TwoSites_EachHubPeersTheOtherWithTheRoutesOfItsMembers()
    {
        using var mesh = new MeshFixture(hubId: "site-a", endpoint: "192.0.2.1:51820");
        var b = mesh.AnotherSite("site-b", "198.51.100.1:51820");
        mesh.Service.AnnounceHub(mesh.HubRecordOf(mesh.Roster));
        b.Service.AnnounceHub(mesh.HubRecordOf(b.Roster));
        mesh.Service.Enroll("n1", MeshFixture.Ek("n1"), MeshFixture.NewKey().Public, 0);
        b.Service.Enroll("n2", MeshFixture.Ek("n2"), MeshFixture.NewKey().Public, 0);

        var changeAtA = mesh.Service.Resync();
        var changeAtB = b.Service.Resync();

        Assert.True(changeAtA.HubRoutesMoved);
        Assert.True(changeAtB.HubRoutesMoved);
        var n1 = mesh.Roster.Find("n1")!;
        var n2 = mesh.Roster.Find("n2")!;
        Assert.Equal("site-a", n1.Hub);
        Assert.Equal("site-b", n2.Hub);

        // Hub A: n1 directly, hub B with n2's routes at B's endpoint; n2 is no direct peer of A.
        var atA = mesh.Roster.HubConfiguration();
        Assert.Equal(["n1", "hub:site-b"], atA.Peers.Select(p => p.Name));
        var hubBAtA = atA.Peers[1];
        Assert.Equal(b.Roster.Topology.HubPublicKey, hubBAtA.PublicKey);
        Assert.Equal("198.51.100.1:51820", hubBAtA.Endpoint);
        Assert.Equal(HostRoutes(n2), Routes(hubBAtA));
        Assert.Equal(25, hubBAtA.PersistentKeepalive);

        // The live hubs hold the same (Resync gave each its whole configuration).
        Assert.Equal(
            atA.Peers.Select(p => Convert.ToBase64String(p.PublicKey)).Order(StringComparer.Ordinal),
            mesh.Hub.Peers.Keys.Order(StringComparer.Ordinal));
        var hubAAtB = b.Hub.Peers[Convert.ToBase64String(mesh.Topology.HubPublicKey)];
        Assert.Equal(HostRoutes(n1), Routes(hubAAtB));
        Assert.Equal("192.0.2.1:51820", hubAAtB.Endpoint);
        Assert.False(b.Hub.Peers.ContainsKey(Convert.ToBase64String(n1.PublicKey)));

        // Each node's bundle names its own site's hub, routing the whole prefix.
        var bundle = b.Roster.BundleFor("n2")!;
        Assert.Equal(b.Roster.Topology.HubPublicKey, Assert.Single(bundle.Peers).PublicKey);
        Assert.Equal(["fd12:3456:789a:1::/64", "100.64.0.0/24"], Routes(bundle.Peers[0]));
    }

    [Fact]
    public void Enroll_NodeAttestsThroughTheOtherSite_ItsRoutesMoveToThatHub()
    {
        using var mesh = new MeshFixture(hubId: "site-a");
        var b = mesh.AnotherSite("site-b", "198.51.100.1:51820");
        mesh.Service.AnnounceHub(mesh.HubRecordOf(mesh.Roster));
        b.Service.AnnounceHub(mesh.HubRecordOf(b.Roster));
        var key = MeshFixture.NewKey().Public;
        var first = mesh.Service.Enroll("n1", MeshFixture.Ek("n1"), key, 0);
        b.Service.Resync();
        Assert.Equal(HostRoutes(mesh.Roster.Find("n1")!), Routes(b.Hub.Peers[Convert.ToBase64String(mesh.Topology.HubPublicKey)]));
        var epochBefore = mesh.Roster.Epoch;

        var second = b.Service.Enroll("n1", MeshFixture.Ek("n1"), key, 0);
        var change = mesh.Service.Resync();

        Assert.Equal(first.Addresses, second.Addresses);
        Assert.True(change.HubRoutesMoved);
        Assert.True(mesh.Roster.Epoch > epochBefore);
        Assert.Equal("site-b", mesh.Roster.Find("n1")!.Hub);
        Assert.False(mesh.Hub.Peers.ContainsKey(Convert.ToBase64String(key)));
        Assert.Equal(HostRoutes(mesh.Roster.Find("n1")!), Routes(mesh.Hub.Peers[Convert.ToBase64String(b.Roster.Topology.HubPublicKey)]));
        Assert.Empty(b.Roster.HubConfiguration().Peers.Single(p => p.Name == "hub:site-a").AllowedIps);
        var text = WireGuardConfigRenderer.RenderSetConf(b.Roster.HubConfiguration());
        Assert.Contains("# hub:site-a\n[Peer]\nPublicKey = " + WireGuardKey.ToBase64(mesh.Topology.HubPublicKey) + "\nEndpoint = ", text, StringComparison.Ordinal);
        Assert.Equal(key, b.Hub.Peers[Convert.ToBase64String(key)].PublicKey);
    }

    [Fact]
    public void BundleFor_FullMeshAcrossSites_DirectPeersOnlyWithinTheSite()
    {
        using var mesh = new MeshFixture(FullMeshPolicy.Instance, hubId: "site-a");
        var b = mesh.AnotherSite("site-b", "198.51.100.1:51820");
        mesh.Service.Enroll("a1", MeshFixture.Ek("a1"), MeshFixture.NewKey().Public, 0, "192.0.2.11:51820");
        mesh.Service.Enroll("a2", MeshFixture.Ek("a2"), MeshFixture.NewKey().Public, 0, "192.0.2.12:51820");
        b.Service.Enroll("b1", MeshFixture.Ek("b1"), MeshFixture.NewKey().Public, 0, "198.51.100.11:51820");
        mesh.Service.Resync();

        Assert.Equal(["hub", "a2"], mesh.Roster.BundleFor("a1")!.Peers.Select(p => p.Name));
        Assert.Equal(["hub"], b.Roster.BundleFor("b1")!.Peers.Select(p => p.Name));
    }

    [Fact]
    public void HubConfiguration_AHubRecordWithThisHubsKey_IsNeverItsOwnPeer()
    {
        using var mesh = new MeshFixture(hubId: "site-a");
        var copy = mesh.AnotherSite("site-copy", "198.51.100.1:51820");
        copy.Roster.AnnounceHub(mesh.HubRecordOf(copy.Roster) with { PublicKey = mesh.Topology.HubPublicKey });
        mesh.Service.Resync();

        Assert.Empty(mesh.Roster.HubConfiguration().Peers);
        Assert.Equal(["site-copy"], mesh.Roster.PeerHubs.Select(h => h.InstanceId));
    }

    [Fact]
    public void Upsert_TwoProvisionersThatHaveNotReloaded_NeverHandOutOneEpochTwice()
    {
        using var mesh = new MeshFixture(hubId: "site-a");
        var b = mesh.AnotherSite("site-b", "198.51.100.1:51820");
        var start = mesh.Roster.Epoch;

        mesh.Service.Enroll("n1", MeshFixture.Ek("n1"), MeshFixture.NewKey().Public, 0);
        b.Service.Enroll("n2", MeshFixture.Ek("n2"), MeshFixture.NewKey().Public, 0);

        Assert.Equal(start + 1, mesh.Roster.Epoch);
        Assert.Equal(start + 2, b.Roster.Epoch);
        mesh.Service.Resync();
        Assert.Equal(start + 2, mesh.Roster.Epoch);
    }
}
