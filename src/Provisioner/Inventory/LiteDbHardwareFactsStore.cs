using Kldload.Provisioner.Storage;
using LiteDB;

namespace Kldload.Provisioner.Inventory;

/// <summary>The facts history in kldload.db (collection <c>node_facts</c>, keyed by a 64-bit sequence, indexed by node).</summary>
public sealed class LiteDbHardwareFactsStore : IHardwareFactsStore
{
    private readonly ILiteCollection<HardwareFactsRecord> _history;

    public LiteDbHardwareFactsStore(IKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _history = database.Database.GetCollection<HardwareFactsRecord>("node_facts", BsonAutoId.Int64);
        _history.EnsureIndex(r => r.NodeId);
    }

    public HardwareFactsRecord Append(HardwareFactsRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        record.Id = 0;
        _history.Insert(record);
        return record;
    }

    public IReadOnlyList<HardwareFactsRecord> History(string nodeId, int limit) =>
        [.. _history.Find(Query.EQ(nameof(HardwareFactsRecord.NodeId), nodeId)).OrderByDescending(r => r.Id).Take(limit)];

    public HardwareFactsRecord? LastBound(string nodeId) =>
        _history.Find(Query.And(Query.EQ(nameof(HardwareFactsRecord.NodeId), nodeId), Query.EQ(nameof(HardwareFactsRecord.Bound), true)))
            .OrderByDescending(r => r.Id).FirstOrDefault();

    /// <summary>Every record, in id order: for <c>kldload db migrate</c>.</summary>
    public IReadOnlyList<HardwareFactsRecord> All() => [.. _history.FindAll().OrderBy(r => r.Id)];
}
