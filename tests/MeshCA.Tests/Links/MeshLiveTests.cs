using System.Diagnostics;
using Kldload.MeshCA.Distribution;
using Kldload.MeshCA.Links;
using Kldload.MeshCA.Tests.Distribution;
using Kldload.MeshCA.Tests.Tools;

namespace Kldload.MeshCA.Tests.Links;

/// <summary>
/// The mesh for real: a hub namespace and a node namespace joined by a veth pair, WireGuard on both
/// sides (kernel or wireguard-go), configurations rendered by MeshCA, the node key derived from swtpm.
/// </summary>
[Trait("Tier", "Peer")]
public class MeshLiveTests
{
    private static string Tag() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2));

    /// <summary>busybox ping (iputils is not installed here): true when a reply came back.</summary>
    private static bool Ping(NetworkNamespace from, string address, int count = 1)
    {
        var n = count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var r = from.TryExec("busybox", "ping", "-c", n, "-W", "1", "-w", (count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), address);
        if (r.ExitCode != 0 && !r.StdOut.Contains("packets transmitted", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"ping did not run: {r.StdErr.Trim()} {r.StdOut.Trim()}");
        }

        return r.ExitCode == 0;
    }

    private static bool PingWithin(NetworkNamespace from, string address, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            if (Ping(from, address))
            {
                return true;
            }
        }

        return false;
    }

    private static string Diagnose(params NetworkNamespace[] namespaces) =>
        string.Join("\n", namespaces.Select(ns =>
            $"== {ns.Name}\n{ns.TryExec("wg", "show").StdOut}\n{ns.TryExec("ip", "addr").StdOut}\n{ns.TryExec("ip", "-6", "route").StdOut}"));

    private static void ApplyOnNode(WireGuardLink node, PeerBundle bundle, byte[] privateKey)
    {
        foreach (var a in bundle.Addresses)
        {
            node.AddAddress(a);
        }

        node.Up();
        node.SyncConfiguration(WireGuardConfigRenderer.RenderSetConf(bundle), privateKey);
    }

    [Fact]
    public void Ping_OverMesh_SucceedsThenRevocationStopsItAtOnceThenNewKeyEpochRestoresIt()
    {
        using var hubNs = new NetworkNamespace("klmeshh");
        using var nodeNs = new NetworkNamespace("klmeshn");
        NetworkNamespace.Connect(hubNs, "192.0.2.1/24", nodeNs, "192.0.2.2/24");
        using var swtpm = SwtpmProcess.StartEmpty();
        var tpm = new Tpm2ToolsHmac(swtpm);

        using var hubLink = WireGuardLink.Create($"klmh{Tag()}", hubNs.Name);
        using var mesh = new MeshFixture(endpoint: "192.0.2.1:51820", hub: new LinkMeshHub(hubLink));
        LinkMeshHub.BringUp(hubLink, mesh.Roster.HubConfiguration(), mesh.HubPrivateKey);
        Assert.Equal(WireGuardKey.ToBase64(mesh.Topology.HubPublicKey), hubLink.PublicKey());
        var hub6 = mesh.Topology.HubAddress6.ToString();
        var hub4 = mesh.Topology.HubAddress4!.ToString();

        // The node: key from its TPM, enrolment, verified bundle, interface.
        var epoch0 = mesh.Roster.KeyEpochFor("node1");
        var key0 = WireGuardKeyDerivation.DerivePrivateKey(tpm, epoch0);
        var enrollment = mesh.Service.Enroll("node1", MeshFixture.Ek("live-node"), WireGuardKey.PublicKeyOf(key0), epoch0);
        var verifier = mesh.VerifierFor("node1");
        Assert.Equal(BundleVerdict.Accepted, verifier.Offer(enrollment.Bundle, out _));
        using var nodeLink = WireGuardLink.Create($"klmn{Tag()}", nodeNs.Name);
        ApplyOnNode(nodeLink, verifier.Current!, key0);
        Assert.Equal(WireGuardKey.ToBase64(WireGuardKey.PublicKeyOf(key0)), nodeLink.PublicKey());

        Assert.True(PingWithin(nodeNs, hub6, TimeSpan.FromSeconds(15)), $"ping6 over the mesh\n{Diagnose(hubNs, nodeNs)}");
        Assert.True(Ping(nodeNs, hub4), "ping over the mesh's IPv4 pool");
        Assert.True(Ping(hubNs, enrollment.Addresses.Address6.ToString()), "the hub reaches the node");

        // Revocation: off the hub at once.
        Assert.True(mesh.Service.Revoke("node1"));
        Assert.Empty(hubLink.PeerKeys());
        Assert.False(Ping(nodeNs, hub6, count: 2), "a revoked node must not reach the hub");

        // Restore: the node derives the next key epoch and re-enrols; its bundle has a newer epoch.
        var epoch1 = mesh.Roster.KeyEpochFor("node1");
        Assert.Equal(epoch0 + 1, epoch1);
        var key1 = WireGuardKeyDerivation.DerivePrivateKey(tpm, epoch1);
        Assert.NotEqual(key0, key1);
        var again = mesh.Service.Enroll("node1", MeshFixture.Ek("live-node"), WireGuardKey.PublicKeyOf(key1), epoch1);
        Assert.Equal(BundleVerdict.Accepted, verifier.Offer(again.Bundle, out _));
        Assert.Equal(BundleVerdict.Stale, verifier.Offer(enrollment.Bundle, out _));
        Assert.Contains(verifier.Current!.Revoked, k => k.AsSpan().SequenceEqual(WireGuardKey.PublicKeyOf(key0)));
        ApplyOnNode(nodeLink, verifier.Current!, key1);

        Assert.True(PingWithin(nodeNs, hub6, TimeSpan.FromSeconds(15)), "ping6 after re-enrolment with key epoch 1");
        Assert.Equal(again.Addresses, enrollment.Addresses);
    }
}
