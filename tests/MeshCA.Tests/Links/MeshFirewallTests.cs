using System.Net;
using Kldload.MeshCA.Distribution;
using Kldload.MeshCA.Links;
using Kldload.MeshCA.Tests.Distribution;
using Kldload.MeshCA.Tests.Tools;

namespace Kldload.MeshCA.Tests.Links;

public class MeshFirewallTests
{
    [Fact]
    public void RenderNftables_WithIpv4Pool_DropsBothFamiliesOffTheMesh()
    {
        var rules = MeshFirewall.RenderNftables("kl0", IPNetwork.Parse("fd12:3456:789a:1::/64"), IPNetwork.Parse("100.64.0.0/16"));
        Assert.Contains("iifname { \"kl0\", \"lo\" } accept", rules, StringComparison.Ordinal);
        Assert.Contains("ip6 daddr fd12:3456:789a:1::/64 drop", rules, StringComparison.Ordinal);
        Assert.Contains("ip saddr 100.64.0.0/16 drop", rules, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Tier", "Peer")]
    public void RenderNftables_Applied_DropsMeshAddressReachedOverTheLanButNotOverWireGuard()
    {
        using var hubNs = new NetworkNamespace("klmeshf");
        using var nodeNs = new NetworkNamespace("klmeshg");
        NetworkNamespace.Connect(hubNs, "192.0.2.1/24", nodeNs, "192.0.2.2/24");
        using var hubLink = WireGuardLink.Create("klmf" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2)), hubNs.Name);
        using var mesh = new MeshFixture(endpoint: "192.0.2.1:51820", hub: new LinkMeshHub(hubLink));
        LinkMeshHub.BringUp(hubLink, mesh.Roster.HubConfiguration(), mesh.HubPrivateKey);
        var (priv, pub) = MeshFixture.NewKey();
        var enrollment = mesh.Service.Enroll("n1", MeshFixture.Ek("fw"), pub, 0);
        using var nodeLink = WireGuardLink.Create("klmg" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2)), nodeNs.Name);
        var bundle = mesh.Roster.BundleFor("n1")!;
        foreach (var a in bundle.Addresses)
        {
            nodeLink.AddAddress(a);
        }

        nodeLink.Up();
        nodeLink.SyncConfiguration(WireGuardConfigRenderer.RenderSetConf(bundle), priv);
        var hub4 = mesh.Topology.HubAddress4!.ToString();
        var hub6 = mesh.Topology.HubAddress6.ToString();

        // A LAN neighbour routes straight to the hub's mesh IPv4 address over the veth, bypassing WireGuard.
        nodeNs.Exec("ip", "route", "add", $"{hub4}/32", "via", "192.0.2.1");
        Assert.True(Ping(nodeNs, hub4), "without the rule the weak host model answers over the LAN");

        hubNs.Exec("sh", "-c", $"nft -f - <<'EOF'\n{MeshFirewall.RenderNftables(hubLink.Name, mesh.Topology.Prefix6, mesh.Topology.Cidr4)}EOF\n");
        Assert.False(Ping(nodeNs, hub4), "with the rule the LAN path is dropped");
        Assert.True(Ping(nodeNs, hub6, within: 15), "mesh traffic over WireGuard still passes");
        Assert.Equal(enrollment.Addresses.Address6, bundle.Addresses[0].Address);
    }

    private static bool Ping(NetworkNamespace from, string address, int within = 2)
    {
        var deadline = DateTime.UtcNow.AddSeconds(within);
        do
        {
            var r = from.TryExec("busybox", "ping", "-c", "1", "-W", "1", "-w", "1", address);
            if (r.ExitCode != 0 && !r.StdOut.Contains("packets transmitted", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"ping did not run: {r.StdErr.Trim()}");
            }

            if (r.ExitCode == 0)
            {
                return true;
            }
        }
        while (DateTime.UtcNow < deadline);
        return false;
    }
}
