using Kldload.Provisioner.Storage;
using LiteDB;

namespace Kldload.Provisioner.Power;

/// <summary>BMC records in LiteDB, collection <c>node_bmcs</c>, keyed <c>_id</c> by node id.</summary>
public sealed class LiteDbBmcStore : IBmcStore
{
    /// <summary>
    /// The map of <see cref="BmcRecord"/>, of this store alone, built whole before first use (LiteDB
    /// publishes a type's map before it is complete). The fields are those LiteDB's conventions gave
    /// the type before, so documents written before keep reading.
    /// </summary>
    private static readonly Lazy<BsonMapper> Mapper = new(() =>
    {
        var mapper = new BsonMapper();
        mapper.Entity<BmcRecord>().Id(r => r.Id, autoId: false);
        _ = mapper.ToDocument(new BmcRecord());
        return mapper;
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly ILiteCollection<BsonDocument> _records;
    private readonly BsonMapper _mapper = Mapper.Value;

    public LiteDbBmcStore(IKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _records = database.Database.GetCollection("node_bmcs");
    }

    public BmcRecord? Get(string nodeId) => _records.FindById(nodeId) is { } doc ? _mapper.ToObject<BmcRecord>(doc) : null;

    public void Upsert(BmcRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        _records.Upsert(_mapper.ToDocument(record));
    }

    /// <summary>Every record, sealed passwords as stored: for <c>kldload db migrate</c>.</summary>
    public IReadOnlyList<BmcRecord> All() => [.. _records.FindAll().Select(_mapper.ToObject<BmcRecord>)];
}
