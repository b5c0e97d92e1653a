using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Storage;
using LiteDB;

namespace Kldload.Provisioner.Power;

/// <summary>
/// Rollouts in LiteDB, collection <c>rollouts</c>: one document per rollout, keyed <c>_id</c> by id,
/// its nodes and skips embedded. No index: a site has a handful of rollouts.
/// </summary>
public sealed class LiteDbRolloutStore : IRolloutStore
{
    /// <summary>
    /// The map of <see cref="RolloutRecord"/> and the types it embeds, of this store alone, built whole
    /// before first use (LiteDB publishes a type's map before it is complete). The fields are those the
    /// attributed type had (the computed <see cref="RolloutRecord.IsActive"/> and
    /// <see cref="RolloutRecord.WaveCount"/> are not stored), so documents written before keep reading.
    /// </summary>
    private static readonly Lazy<BsonMapper> Mapper = new(() =>
    {
        var mapper = new BsonMapper();
        mapper.Entity<RolloutRecord>()
            .Id(r => r.Id, autoId: false)
            .Ignore(r => r.IsActive)
            .Ignore(r => r.WaveCount);
        _ = mapper.ToDocument(new RolloutRecord { Previous = new ImageRef(), Nodes = [new RolloutNode()], Skipped = [new RolloutSkip()] });
        return mapper;
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly ILiteCollection<BsonDocument> _records;
    private readonly BsonMapper _mapper = Mapper.Value;

    public LiteDbRolloutStore(IKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _records = database.Database.GetCollection("rollouts");
    }

    public RolloutRecord? Get(string id) => _records.FindById(id) is { } doc ? _mapper.ToObject<RolloutRecord>(doc) : null;

    public IReadOnlyList<RolloutRecord> List() => [.. All().OrderByDescending(r => r.CreatedAt)];

    public IReadOnlyList<RolloutRecord> Active() => [.. All().Where(r => r.IsActive).OrderBy(r => r.CreatedAt)];

    public void Upsert(RolloutRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        _records.Upsert(_mapper.ToDocument(record));
    }

    private IEnumerable<RolloutRecord> All() => _records.FindAll().Select(_mapper.ToObject<RolloutRecord>);
}
