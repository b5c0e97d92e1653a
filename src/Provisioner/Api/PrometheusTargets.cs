using System.Globalization;
using System.Net;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Api;

/// <summary>
/// One target group of Prometheus HTTP service discovery (<c>http_sd_config</c>): the list of
/// <c>host:port</c> to scrape and the labels every sample from them gets.
/// </summary>
public sealed record PrometheusTargetGroup(IReadOnlyList<string> Targets, IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// <c>GET /api/v1/prometheus/targets</c> (admin token, as every <c>/api/v1</c> route): every Ready node
/// at its mesh address and <c>Mesh:MetricsPort</c>, one group per node, labelled with the node's name,
/// id and the image it last booted. Prometheus reaches the nodes over the mesh.
/// </summary>
public static class PrometheusTargets
{
    /// <summary>The target groups for <paramref name="nodes"/>: Ready nodes with a mesh address only, ordered by name.</summary>
    public static IReadOnlyList<PrometheusTargetGroup> For(IEnumerable<NodeRecord> nodes, int metricsPort)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        return [.. nodes
            .Where(n => n.State == NodeState.Ready && n.MeshAddress is not null)
            .OrderBy(n => n.Name, StringComparer.Ordinal)
            .ThenBy(n => n.Id, StringComparer.Ordinal)
            .Select(n => new PrometheusTargetGroup(
                [new IPEndPoint(IPAddress.Parse(n.MeshAddress!), metricsPort).ToString()],
                new Dictionary<string, string>
                {
                    ["node"] = n.Name,
                    ["node_id"] = n.Id,
                    ["image"] = n.LastBootedImage is { } image ? string.Create(CultureInfo.InvariantCulture, $"{image.Name}/{image.Version}") : string.Empty,
                }))];
    }

    public static RouteGroupBuilder MapPrometheusTargets(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/prometheus/targets", (NodeService nodes, MeshSettings mesh) => Results.Json(For(nodes.Store.List(), mesh.MetricsPort)));
        return api;
    }
}
