namespace Kldload.Provisioner.Storage;

/// <summary>
/// One kldload instance as the shared database knows it, by instance id (<c>{DataDir}/instance.id</c>):
/// the mesh hub it announced, the image blobs it holds, the DHCP load-balancing roles it beats for.
/// </summary>
/// <param name="Id">The instance id.</param>
/// <param name="Self">True for the instance answering.</param>
/// <param name="LastSeen">The newest of its hub announcement, blob-holder rows and heartbeats.</param>
/// <param name="HubEndpoint">Where the other hubs dial its mesh hub, when it runs one.</param>
/// <param name="BlobUrl">Where other instances fetch its image blobs, when it announced any.</param>
/// <param name="Blobs">How many blobs it holds.</param>
/// <param name="Dhcp">Its DHCP load-balancing roles, as <c>SEGMENT primary|secondary</c> with the last beat.</param>
public sealed record InstanceRecord(
    string Id,
    bool Self,
    DateTimeOffset? LastSeen,
    string? HubEndpoint,
    string? BlobUrl,
    int Blobs,
    IReadOnlyList<InstanceDhcpRole> Dhcp);

/// <summary>A DHCP load-balancing role an instance beats for.</summary>
public sealed record InstanceDhcpRole(string Segment, string Role, DateTimeOffset Beat);

/// <summary>
/// The instances sharing this database, for operators (<c>GET /api/v1/instances</c>, <c>kldload
/// instances</c>), and forgetting one that is gone for good: its hub stops being a peer of the others,
/// its blob rows stop being tried.
/// </summary>
public interface IInstanceDirectory
{
    /// <summary>Every instance with a row in the shared tables, this one first.</summary>
    IReadOnlyList<InstanceRecord> List();

    /// <summary>Removes the rows <paramref name="id"/> left (hub, blob holders, heartbeats); the number removed.</summary>
    int Forget(string id);
}

/// <summary>The embedded database: one instance, itself, and nothing to forget.</summary>
public sealed class SingleInstanceDirectory(InstanceIdentity self) : IInstanceDirectory
{
    public IReadOnlyList<InstanceRecord> List() => [new InstanceRecord(self.Name, true, null, null, null, 0, [])];

    public int Forget(string id) => 0;
}
