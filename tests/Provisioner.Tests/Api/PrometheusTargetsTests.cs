using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Tests.Attestation;

namespace Kldload.Provisioner.Tests.Api;

/// <summary>The Prometheus HTTP service discovery document, rendered from records.</summary>
public class PrometheusTargetsTests
{
    private static NodeRecord Node(string id, string name, NodeState state, string? mesh, string? image = "live") => new()
    {
        Id = id,
        Name = name,
        State = state,
        MeshAddress = mesh,
        LastBootedImage = image is null ? null : new ImageRef { Name = image, Version = "3" },
    };

    [Fact]
    public void For_MixedStates_OnlyReadyNodesWithAMeshAddressInHttpSdFormat()
    {
        NodeRecord[] nodes =
        [
            Node("00000000000b", "web-2", NodeState.Ready, "fd12:3456:789a:1::b"),
            Node("00000000000a", "db-1", NodeState.Ready, "fd12:3456:789a:1::a", image: null),
            Node("00000000000c", "new", NodeState.Attested, "fd12:3456:789a:1::c"),
            Node("00000000000d", "gone", NodeState.Decommissioned, "fd12:3456:789a:1::d"),
            Node("00000000000e", "odd", NodeState.Ready, null),
        ];

        var json = JsonSerializer.Serialize(PrometheusTargets.For(nodes, 9100), JsonSerializerOptions.Web);

        Assert.Equal(
            """[{"targets":["[fd12:3456:789a:1::a]:9100"],"labels":{"node":"db-1","node_id":"00000000000a","image":""}},""" +
            """{"targets":["[fd12:3456:789a:1::b]:9100"],"labels":{"node":"web-2","node_id":"00000000000b","image":"live/3"}}]""",
            json);
    }

    [Fact]
    public void For_NoReadyNode_EmptyList() =>
        Assert.Equal("[]", JsonSerializer.Serialize(PrometheusTargets.For([Node("00000000000c", "new", NodeState.Attested, "fd12::c")], 9100), JsonSerializerOptions.Web));
}

/// <summary>The endpoint on the real host: a node attested with swtpm becomes a target; the token is required.</summary>
[Trait("Tier", "Integration")]
public sealed class PrometheusTargetsHostTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-promsd-").FullName;
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        _host = await TestHost.StartAsync(_dir, images, "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab", "--Mesh:MetricsPort=9101");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Targets_OneReadyNodeOneDiscovered_ListsTheReadyNodeAtItsMeshAddress()
    {
        const string ready = "52:54:00:50:00:01";
        using (var tpm = new SwtpmNode())
        {
            await Agent.AttestAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, ready), ready);
        }

        await Agent.BootTokenAsync(_host.Http, "52:54:00:50:00:02"); // Discovered only

        var node = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{ready}", UriKind.Relative));
        Assert.Equal("Ready", node.GetProperty("state").GetString());
        var groups = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/prometheus/targets", UriKind.Relative));
        var group = Assert.Single(groups.EnumerateArray());
        Assert.Equal($"[{node.GetProperty("meshAddress").GetString()}]:9101", Assert.Single(group.GetProperty("targets").EnumerateArray()).GetString());
        var labels = group.GetProperty("labels");
        Assert.Equal(node.GetProperty("name").GetString(), labels.GetProperty("node").GetString());
        Assert.Equal(node.GetProperty("id").GetString(), labels.GetProperty("node_id").GetString());
        Assert.Equal("live/1", labels.GetProperty("image").GetString());

        Assert.Equal(HttpStatusCode.Unauthorized, (await _host.Http.GetAsync(new Uri("/api/v1/prometheus/targets", UriKind.Relative))).StatusCode);
    }
}
