namespace Kldload.MeshCA.Addressing;

/// <summary>
/// One mesh address held (or, once released, kept in quarantine) for a node. The IPv6 address is
/// stored as its 64-bit interface id so that a prefix change moves every node consistently.
/// </summary>
public sealed record MeshAddressRecord
{
    /// <summary>Low 64 bits of the node's IPv6 mesh address.</summary>
    public required ulong InterfaceId { get; init; }

    /// <summary>IPv4 mesh address (host byte order), when the mesh has an IPv4 pool.</summary>
    public uint? Address4 { get; init; }

    public required string NodeId { get; init; }

    /// <summary>Lower-case hex SHA-256 of the EK of the hardware the address was given to.</summary>
    public required string EkSha256 { get; init; }

    public required DateTimeOffset AllocatedAt { get; init; }

    /// <summary>Set when the node released the address; it stays out of use until the quarantine ends.</summary>
    public DateTimeOffset? ReleasedAt { get; init; }

    public bool IsActive => ReleasedAt is null;
}

/// <summary>Storage of mesh address records and of the generated mesh prefix.</summary>
public interface IMeshAddressStore
{
    /// <summary>A stored setting (for example the generated prefix), or null.</summary>
    string? GetSetting(string name);

    void SetSetting(string name, string value);

    /// <summary>
    /// Stores <paramref name="value"/> under <paramref name="name"/> unless a value is there already,
    /// and returns the value stored: two provisioners starting together on an empty store agree on one.
    /// </summary>
    string AddSettingIfAbsent(string name, string value);

    /// <summary>The record holding <paramref name="interfaceId"/>, active or quarantined.</summary>
    MeshAddressRecord? FindByInterfaceId(ulong interfaceId);

    /// <summary>The record holding the IPv4 address <paramref name="address4"/>, active or quarantined.</summary>
    MeshAddressRecord? FindByAddress4(uint address4);

    /// <summary>Every record of <paramref name="nodeId"/>, active and released.</summary>
    IReadOnlyList<MeshAddressRecord> FindByNode(string nodeId);

    IReadOnlyList<MeshAddressRecord> All();

    /// <summary>
    /// Inserts or replaces the record with the same interface id. An address is never held twice: saving
    /// over an interface id another node holds, or with an IPv4 address another record holds, changes
    /// nothing and throws (the allocator then probes on; with several provisioners on one database this
    /// is the last line against two nodes getting one address).
    /// </summary>
    /// <exception cref="MeshAddressConflictException">The interface id or the IPv4 address is held by another node's record.</exception>
    void Save(MeshAddressRecord record);

    void Delete(ulong interfaceId);
}

/// <summary>
/// Thrown by <see cref="IMeshAddressStore.Save"/> when the record would take an address another
/// node's record holds (another provisioner allocated it between the allocator's check and its save).
/// </summary>
public sealed class MeshAddressConflictException(string message, Exception? inner = null) : Exception(message, inner);
