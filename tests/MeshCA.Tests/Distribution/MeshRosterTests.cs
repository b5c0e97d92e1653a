using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Distribution;

namespace Kldload.MeshCA.Tests.Distribution;

public class MeshRosterTests
{
    [Fact]
    public void Epoch_EveryChange_StrictlyIncreasesAndSurvivesReopen()
    {
        using var mesh = new MeshFixture();
        var seen = new List<ulong> { mesh.Roster.Epoch };
        var k1 = MeshFixture.NewKey();
        mesh.Service.Enroll("n1", MeshFixture.Ek("a"), k1.Public, 0);
        seen.Add(mesh.Roster.Epoch);
        mesh.Service.Enroll("n2", MeshFixture.Ek("b"), MeshFixture.NewKey().Public, 0);
        seen.Add(mesh.Roster.Epoch);

        // Re-enrolling with the same key (a reboot) changes nothing.
        mesh.Service.Enroll("n1", MeshFixture.Ek("a"), k1.Public, 0);
        Assert.Equal(seen[^1], mesh.Roster.Epoch);

        mesh.Service.Enroll("n1", MeshFixture.Ek("a"), MeshFixture.NewKey().Public, 1); // key rotation
        seen.Add(mesh.Roster.Epoch);
        mesh.Service.Revoke("n2");
        seen.Add(mesh.Roster.Epoch);

        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.Second > p.First), string.Join(",", seen));

        var reopened = new MeshRoster(new LiteDbMeshRosterStore(mesh.Db), mesh.Topology, HubAndSpokePolicy.Instance, mesh.Clock);
        Assert.Equal(mesh.Roster.Epoch, reopened.Epoch);
        Assert.Equal(["n1"], reopened.Members.Select(m => m.NodeId));
        Assert.Equal(2, reopened.RevokedKeys.Count);
    }

    [Fact]
    public void Revoke_Key_DisappearsFromEveryBundleAndLandsOnEveryDenylist()
    {
        using var mesh = new MeshFixture(FullMeshPolicy.Instance);
        var keys = Enumerable.Range(0, 4).Select(_ => MeshFixture.NewKey()).ToArray();
        for (var i = 0; i < keys.Length; i++)
        {
            mesh.Service.Enroll($"n{i}", MeshFixture.Ek($"tpm{i}"), keys[i].Public, 0, endpoint: $"198.51.100.{i + 10}:51820");
        }

        var victim = Convert.ToBase64String(keys[2].Public);
        Assert.Contains(victim, mesh.Roster.BundleFor("n0")!.Peers.Select(p => Convert.ToBase64String(p.PublicKey)));
        Assert.True(mesh.Hub.Peers.ContainsKey(victim));

        Assert.True(mesh.Service.Revoke("n2"));

        var bundles = new[] { "n0", "n1", "n3" }.Select(n => mesh.Roster.BundleFor(n)!).Append(mesh.Roster.HubConfiguration()).ToList();
        foreach (var b in bundles)
        {
            Assert.DoesNotContain(victim, b.Peers.Select(p => Convert.ToBase64String(p.PublicKey)));
            Assert.Contains(victim, b.Revoked.Select(Convert.ToBase64String));
            Assert.DoesNotContain(victim, WireGuardConfigRenderer.RenderWgQuick(b).Split('\n').Where(l => l.StartsWith("PublicKey", StringComparison.Ordinal)));
        }

        Assert.False(mesh.Hub.Peers.ContainsKey(victim));
        Assert.Null(mesh.Roster.BundleFor("n2"));
        Assert.Null(mesh.Service.SignedBundleFor("n2"));
        Assert.False(mesh.Service.Revoke("n2"));
    }

    [Fact]
    public void Enroll_RevokedKey_IsRefused_NewKeyEpochIsAccepted()
    {
        using var mesh = new MeshFixture();
        var k0 = MeshFixture.NewKey();
        var first = mesh.Service.Enroll("n1", MeshFixture.Ek("a"), k0.Public, 0);
        mesh.Service.Revoke("n1");

        var e = Assert.Throws<MeshEnrollmentException>(() => mesh.Service.Enroll("n1", MeshFixture.Ek("a"), k0.Public, 0));
        Assert.Contains("key epoch 1", e.Message, StringComparison.Ordinal);
        Assert.Equal(1u, mesh.Roster.KeyEpochFor("n1"));

        var back = mesh.Service.Enroll("n1", MeshFixture.Ek("a"), MeshFixture.NewKey().Public, 1);
        Assert.Equal(first.Addresses, back.Addresses);
        Assert.Single(mesh.Hub.Peers);
    }

    [Fact]
    public void Enroll_KeyRotation_RevokesOldKeyOnHub()
    {
        using var mesh = new MeshFixture();
        var k0 = MeshFixture.NewKey();
        var k1 = MeshFixture.NewKey();
        mesh.Service.Enroll("n1", MeshFixture.Ek("a"), k0.Public, 0);
        mesh.Service.Enroll("n1", MeshFixture.Ek("a"), k1.Public, 1);
        Assert.Equal([Convert.ToBase64String(k1.Public)], mesh.Hub.Peers.Keys);
        Assert.True(mesh.Roster.IsRevoked(k0.Public));
    }

    [Fact]
    public void Enroll_KeyOfAnotherNodeOrLowOrder_IsRefused()
    {
        using var mesh = new MeshFixture();
        var k = MeshFixture.NewKey();
        mesh.Service.Enroll("n1", MeshFixture.Ek("a"), k.Public, 0);
        Assert.Throws<MeshEnrollmentException>(() => mesh.Service.Enroll("n2", MeshFixture.Ek("b"), k.Public, 0));
        Assert.Throws<MeshEnrollmentException>(() => mesh.Service.Enroll("n3", MeshFixture.Ek("c"), new byte[32], 0));
        Assert.Throws<MeshEnrollmentException>(() => mesh.Service.Enroll("bad/id", MeshFixture.Ek("d"), MeshFixture.NewKey().Public, 0));
    }

    [Fact]
    public void BundleFor_HubAndSpoke_OnlyTheHubWithTheWholeMeshRouted()
    {
        using var mesh = new MeshFixture();
        mesh.Service.Enroll("n1", MeshFixture.Ek("a"), MeshFixture.NewKey().Public, 0, endpoint: "198.51.100.1:51820");
        mesh.Service.Enroll("n2", MeshFixture.Ek("b"), MeshFixture.NewKey().Public, 0, endpoint: "198.51.100.2:51820");
        var b = mesh.Roster.BundleFor("n1")!;
        var hub = Assert.Single(b.Peers);
        Assert.Equal(PeerBundle.HubName, hub.Name);
        Assert.Equal(["fd12:3456:789a:1::/64", "100.64.0.0/24"], hub.AllowedIps.Select(n => n.ToString()));
        Assert.Equal("192.0.2.1:51820", hub.Endpoint);
        Assert.Equal(25, hub.PersistentKeepalive);

        var hubConfig = mesh.Roster.HubConfiguration();
        Assert.Equal(51820, hubConfig.ListenPort);
        Assert.Equal(["fd12:3456:789a:1::1/64", "100.64.0.1/24"], hubConfig.Addresses.Select(a => a.ToString()));
        Assert.All(hubConfig.Peers, p => Assert.Null(p.Endpoint));
        Assert.Equal(2, hubConfig.Peers.Count);
    }

    [Fact]
    [Trait("Tier", "Integration")]
    public void Enroll_Node_CertificateVerifiesWithOpensslAndBundleWithVerifier()
    {
        using var mesh = new MeshFixture();
        var k = MeshFixture.NewKey();
        var enrollment = mesh.Service.Enroll("n1", MeshFixture.Ek("a"), k.Public, 0);

        File.WriteAllText(mesh.Dir.File("ca.pem"), enrollment.CaBundlePem);
        File.WriteAllText(mesh.Dir.File("node.pem"), enrollment.CertificatePem);
        Assert.Equal($"{mesh.Dir.File("node.pem")}: OK", ExternalTool.Run("openssl", ["verify", "-CAfile", mesh.Dir.File("ca.pem"), mesh.Dir.File("node.pem")]).Trim());

        // The node knows only what it was handed: the caBundle and the JSON envelope.
        var roots = MeshCertificateAuthority.RootsOf(enrollment.CaBundlePem);
        Assert.Equal(mesh.Ca.TrustedRoots.Select(r => r.Thumbprint), roots.Select(r => r.Thumbprint));
        Assert.True(SignedPeerBundle.TryParse(enrollment.Bundle.ToJson(), out var received, out _));
        var verifier = new PeerBundleVerifier(roots, "n1", mesh.Clock);
        Assert.Equal(BundleVerdict.Accepted, verifier.Offer(received!, out var problem));
        Assert.Null(problem);
        Assert.Equal(enrollment.Addresses.Address6, verifier.Current!.Addresses[0].Address);
        Assert.DoesNotContain("PrivateKey", enrollment.WgQuickConfig, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> Labels(params string[] pairs) =>
        pairs.Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);

    private static string[] DirectPeers(MeshFixture mesh, string nodeId) =>
        [.. mesh.Roster.BundleFor(nodeId)!.Peers.Where(p => p.Name != PeerBundle.HubName).Select(p => p.Name)];

    [Fact]
    public void BundleFor_Groups_DirectPeersShareAValueOfAGroupLabelAndHaveAnEndpoint()
    {
        using var mesh = new MeshFixture(new GroupsPolicy(["rack", "role"]));
        void Enroll(string id, string? endpoint, params string[] labels) =>
            mesh.Service.Enroll(id, MeshFixture.Ek(id), MeshFixture.NewKey().Public, 0, endpoint, Labels(labels));
        Enroll("a", "198.51.100.1:51820", "rack=r1", "role=db");
        Enroll("b", "198.51.100.2:51820", "rack=r1", "role=web");
        Enroll("c", "198.51.100.3:51820", "rack=r2", "role=db");
        Enroll("d", "198.51.100.4:51820", "rack=r3", "zone=r1");
        Enroll("e", null, "rack=r1");
        Enroll("f", null, "rack=r1");

        Assert.Equal(["b", "c", "e", "f"], DirectPeers(mesh, "a"));
        Assert.Equal(["a", "e", "f"], DirectPeers(mesh, "b"));
        Assert.Equal(["a"], DirectPeers(mesh, "c"));
        Assert.Empty(DirectPeers(mesh, "d")); // zone is not a group label, and its rack is alone
        Assert.Equal(["a", "b"], DirectPeers(mesh, "e")); // e and f have no endpoint: neither could dial the other
        Assert.Null(mesh.Roster.BundleFor("a")!.Peers.Single(p => p.Name == "e").Endpoint);
        var b = mesh.Roster.BundleFor("a")!;
        Assert.Equal(PeerBundle.HubName, b.Peers[0].Name);
        var direct = b.Peers.Single(p => p.Name == "b");
        Assert.Equal("198.51.100.2:51820", direct.Endpoint);
        Assert.Equal([$"{mesh.Roster.Find("b")!.Address6}/128", $"{mesh.Roster.Find("b")!.Address4}/32"], direct.AllowedIps.Select(n => n.ToString()));
    }

    [Fact]
    public void BundleFor_FullMesh_EveryOtherNodeWithAnEndpoint()
    {
        using var mesh = new MeshFixture(FullMeshPolicy.Instance);
        mesh.Service.Enroll("a", MeshFixture.Ek("a"), MeshFixture.NewKey().Public, 0, "198.51.100.1:51820");
        mesh.Service.Enroll("b", MeshFixture.Ek("b"), MeshFixture.NewKey().Public, 0, "198.51.100.2:51820");
        mesh.Service.Enroll("c", MeshFixture.Ek("c"), MeshFixture.NewKey().Public, 0, null);
        mesh.Service.Enroll("d", MeshFixture.Ek("d"), MeshFixture.NewKey().Public, 0, null);
        Assert.Equal(["b", "c", "d"], DirectPeers(mesh, "a"));
        Assert.Equal(["a", "b"], DirectPeers(mesh, "c"));
    }

    [Fact]
    public void Enroll_LabelsChanged_NewEpochAndTheyOutliveAReopen()
    {
        using var mesh = new MeshFixture(new GroupsPolicy(["rack"]));
        var key = MeshFixture.NewKey().Public;
        mesh.Service.Enroll("a", MeshFixture.Ek("a"), key, 0, "198.51.100.1:51820", Labels("rack=r1"));
        var epoch = mesh.Roster.Epoch;
        mesh.Service.Enroll("a", MeshFixture.Ek("a"), key, 0, "198.51.100.1:51820", Labels("rack=r1"));
        Assert.Equal(epoch, mesh.Roster.Epoch);
        mesh.Service.Enroll("a", MeshFixture.Ek("a"), key, 0, "198.51.100.1:51820", Labels("rack=r2"));
        Assert.Equal(epoch + 1, mesh.Roster.Epoch);

        var reopened = new MeshRoster(new LiteDbMeshRosterStore(mesh.Db), mesh.Topology, HubAndSpokePolicy.Instance, mesh.Clock);
        Assert.Equal("r2", reopened.Find("a")!.Labels["rack"]);
    }

    [Fact]
    public void GroupsPolicy_NoGroupLabel_IsRefused() =>
        Assert.Throws<ArgumentException>(() => new GroupsPolicy([]));

    [Fact]
    public void BundleFor_NodeListenPort_InTheBundleAndItsSetConf()
    {
        using var mesh = new MeshFixture();
        var roster = new MeshRoster(new LiteDbMeshRosterStore(mesh.Db), mesh.Topology with { NodeListenPort = 51820 }, FullMeshPolicy.Instance, mesh.Clock);
        roster.Upsert(new MeshMember { NodeId = "a", PublicKey = MeshFixture.NewKey().Public, Address6 = System.Net.IPAddress.Parse("fd12:3456:789a:1::a") });
        var bundle = roster.BundleFor("a")!;
        Assert.Equal(51820, bundle.ListenPort);
        Assert.Contains("ListenPort = 51820", WireGuardConfigRenderer.RenderSetConf(bundle), StringComparison.Ordinal);
        Assert.Null(mesh.Roster.Topology.NodeListenPort);
    }

    [Fact]
    public void Reload_AnotherRosterOnTheSameStoreChangedIt_SeesMembersRevocationsAndEpochAndWakesWaiters()
    {
        using var mesh = new MeshFixture();
        var other = new MeshRoster(new LiteDbMeshRosterStore(mesh.Db), mesh.Topology, HubAndSpokePolicy.Instance, mesh.Clock);
        var key = MeshFixture.NewKey().Public;
        other.Upsert(new MeshMember { NodeId = "a", PublicKey = key, Address6 = System.Net.IPAddress.Parse("fd12:3456:789a:1::a") });
        var waiting = mesh.Roster.WaitForChangeAsync(mesh.Roster.Epoch, CancellationToken.None);

        var added = mesh.Roster.Reload();
        Assert.Equal(["a"], added.Changed.Select(m => m.NodeId));
        Assert.Empty(added.Removed);
        Assert.True(waiting.IsCompletedSuccessfully);
        Assert.Equal(other.Epoch, mesh.Roster.Epoch);

        other.Revoke("a");
        var revoked = mesh.Roster.Reload();
        Assert.Empty(revoked.Changed);
        Assert.Equal(key, Assert.Single(revoked.Removed));
        Assert.True(mesh.Roster.IsRevoked(key));
        Assert.Null(mesh.Roster.Find("a"));

        var nothing = mesh.Roster.Reload();
        Assert.Empty(nothing.Changed);
        Assert.Empty(nothing.Removed);
    }
}
