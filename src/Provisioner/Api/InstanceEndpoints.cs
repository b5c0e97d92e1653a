using Kldload.MeshCA;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Api;

/// <summary>An instance as the API shows it.</summary>
public sealed record InstanceView(string Id, bool Self, DateTime? LastSeen, string? HubEndpoint, string? BlobUrl, int Blobs, IReadOnlyList<InstanceDhcpRoleView> Dhcp)
{
    public static InstanceView From(InstanceRecord i)
    {
        ArgumentNullException.ThrowIfNull(i);
        return new(i.Id, i.Self, i.LastSeen?.UtcDateTime, i.HubEndpoint, i.BlobUrl, i.Blobs, [.. i.Dhcp.Select(d => new InstanceDhcpRoleView(d.Segment, d.Role, d.Beat.UtcDateTime))]);
    }
}

/// <summary>A DHCP load-balancing role as the API shows it.</summary>
public sealed record InstanceDhcpRoleView(string Segment, string Role, DateTime Beat);

/// <summary>
/// The kldload instances sharing the database (<c>GET /api/v1/instances</c>, viewer) and forgetting one
/// that is gone for good (<c>DELETE /api/v1/instances/{id}</c>, admin): its hub stops being every other
/// hub's peer, its blob-holder rows stop being tried. An instance seen in the last
/// <see cref="StillAlive"/> is refused unless <c>?force=true</c>; this instance is always refused.
/// </summary>
public static partial class InstanceEndpoints
{
    /// <summary>Seen more recently than this, an instance is taken to be running.</summary>
    public static readonly TimeSpan StillAlive = TimeSpan.FromMinutes(5);

    public static RouteGroupBuilder MapInstanceEndpoints(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/instances", (IInstanceDirectory instances) => instances.List().Select(InstanceView.From).ToList());
        api.MapDelete("/instances/{id}", Forget);
        return api;
    }

    private static IResult Forget(string id, bool? force, IInstanceDirectory instances, MeshIdentityService mesh, IClusterNotifications cluster, TimeProvider time, HttpContext http, ILoggerFactory logs)
    {
        var known = instances.List().FirstOrDefault(i => i.Id == id);
        if (known is null)
        {
            return NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"no instance {id} has rows in this database");
        }

        if (known.Self)
        {
            return NodeEndpoints.Problem(StatusCodes.Status409Conflict, "this instance", $"{id} is the instance answering; forget it from another one after stopping it");
        }

        if (force != true && known.LastSeen is { } seen && time.GetUtcNow() - seen < StillAlive)
        {
            return NodeEndpoints.Problem(StatusCodes.Status409Conflict, "still running",
                $"{id} was seen {(time.GetUtcNow() - seen).TotalSeconds:0} s ago; stop it first (its hub and blobs would come back at its next announcement), or add ?force=true");
        }

        var removed = instances.Forget(id);
        // The other hubs drop it as a peer on the notice; this one at once.
        cluster.Publish(ClusterTopics.MeshRoster, "forget " + id);
        mesh.Resync();
        Log.Forgotten(logs.CreateLogger("Kldload.Instances"), id, removed, AdminRoutes.Caller(http).Name);
        return Results.Ok(new { id, removedRows = removed });
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.InstanceForgotten, Level = LogLevel.Information, Message = "instance {Instance} forgotten by {By}: {Rows} rows removed (mesh hub, blob holders, DHCP heartbeats)")]
        public static partial void Forgotten(ILogger logger, string instance, int rows, string by);
    }
}
