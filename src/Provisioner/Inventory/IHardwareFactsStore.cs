using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Inventory;

/// <summary>One boot's facts in the history (LiteDB collection <c>node_facts</c>, PostgreSQL table <c>node_facts</c>).</summary>
public sealed class HardwareFactsRecord : IKldloadDocument
{
    /// <summary>Sequence number assigned by the store; increases with time.</summary>
    public long Id { get; set; }

    public string NodeId { get; set; } = string.Empty;

    public DateTime At { get; set; }

    /// <summary>The attestation session that carried them.</summary>
    public string SessionId { get; set; } = string.Empty;

    /// <summary>Whether the TPM quote bound them.</summary>
    public bool Bound { get; set; }

    /// <summary>RFC 8785 canonical JSON, as the node sent it.</summary>
    public string Facts { get; set; } = string.Empty;
}

/// <summary>
/// The history of each node's hardware facts, one record per attested boot, append-only. Writes made
/// inside <see cref="INodeStore.InTransaction"/> of the same database belong to that transaction.
/// </summary>
public interface IHardwareFactsStore
{
    /// <summary>Appends a record; the store assigns <see cref="HardwareFactsRecord.Id"/> (and sets it on the record it returns).</summary>
    HardwareFactsRecord Append(HardwareFactsRecord record);

    /// <summary>A node's records, newest first, at most <paramref name="limit"/>.</summary>
    IReadOnlyList<HardwareFactsRecord> History(string nodeId, int limit);

    /// <summary>The node's newest record whose facts the quote bound; null when none.</summary>
    HardwareFactsRecord? LastBound(string nodeId);
}
