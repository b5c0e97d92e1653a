using System.Net.Http.Json;
using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// <c>Mesh:Topology</c> on the real host: three nodes attest with swtpm (labels set by the operator
/// first), and each node's bundle holds the hub and the direct peers the topology names.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class MeshTopologyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-topology-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("HubAndSpoke", "", "", "")]
    [InlineData("FullMesh", "b,c", "a,c", "a,b")]
    [InlineData("Groups", "b", "a", "")]
    public async Task Attest_ThreeNodes_EachBundleHoldsTheHubAndTheTopologysDirectPeers(string topology, string peersOfA, string peersOfB, string peersOfC)
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        string[] groups = topology == "Groups" ? ["--Mesh:Groups:0=rack"] : [];
        await using var host = await TestHost.StartAsync(_dir, images,
            ["--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab", $"--Mesh:Topology={topology}", "--Mesh:ListenPort=51999", .. groups]);

        var nodes = new Dictionary<string, (string Mac, string Rack)>
        {
            ["a"] = ("52:54:00:70:00:0a", "r1"),
            ["b"] = ("52:54:00:70:00:0b", "r1"),
            ["c"] = ("52:54:00:70:00:0c", "r2"),
        };
        var ids = new Dictionary<string, string>();
        foreach (var (name, (mac, rack)) in nodes)
        {
            using var tpm = new SwtpmNode();
            var token = await Agent.BootTokenAsync(host.Http, mac);
            var patch = await host.Admin.PatchAsJsonAsync(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative), new { name, labels = new Dictionary<string, string> { ["rack"] = rack } });
            Assert.True(patch.IsSuccessStatusCode, await patch.Content.ReadAsStringAsync());
            var activated = await Agent.AttestAsync(host.Http, tpm, token, mac);
            ids[activated.GetProperty("nodeId").GetString()!] = name;
        }

        var roster = host.Service<MeshIdentityService>().Roster;
        string Peers(string name)
        {
            var id = ids.Single(i => i.Value == name).Key;
            var bundle = roster.BundleFor(id)!;
            Assert.Equal(PeerBundle.HubName, bundle.Peers[0].Name);
            Assert.Equal(topology == "HubAndSpoke" ? null : 51999, bundle.ListenPort);
            return string.Join(",", bundle.Peers.Skip(1).Select(p => ids[p.Name]).Order());
        }

        Assert.Equal(peersOfA, Peers("a"));
        Assert.Equal(peersOfB, Peers("b"));
        Assert.Equal(peersOfC, Peers("c"));

        // Direct peers dial each other where they attested from (here loopback), at Mesh:ListenPort.
        var member = roster.Members[0];
        Assert.Equal(topology == "HubAndSpoke" ? null : "127.0.0.1:51999", member.Endpoint);
        Assert.Equal(nodes[ids[member.NodeId]].Rack, member.Labels["rack"]);
    }
}
