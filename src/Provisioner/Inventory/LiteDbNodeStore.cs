using Kldload.Provisioner.Storage;
using LiteDB;

namespace Kldload.Provisioner.Inventory;

/// <summary>
/// Nodes, events and profiles in kldload.db (collections <c>nodes</c>, <c>events</c>, <c>profiles</c>).
/// A node's key is its <c>Id</c> and an event's its sequence number (LiteDB maps a member named
/// <c>Id</c> to <c>_id</c>); a profile's key is its name.
/// </summary>
public sealed class LiteDbNodeStore : INodeStore, IProfileStore, ILiteDbMapping
{
    private readonly ILiteCollection<NodeRecord> _nodes;
    private readonly ILiteCollection<NodeEvent> _events;
    private readonly ILiteCollection<Profile> _profiles;
    private readonly ILiteDatabase _db;

    public LiteDbNodeStore(IKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        var db = _db = database.Database;
        _nodes = db.GetCollection<NodeRecord>("nodes");
        _events = db.GetCollection<NodeEvent>("events", BsonAutoId.Int64);
        _profiles = db.GetCollection<Profile>("profiles");
        _nodes.EnsureIndex("macs", "$.Macs[*]");
        _nodes.EnsureIndex(n => n.Uuid);
        _nodes.EnsureIndex(n => n.EkFingerprint);
        _nodes.EnsureIndex(n => n.Name);
        _nodes.EnsureIndex(n => n.State);
        _events.EnsureIndex(e => e.NodeId);
    }

    /// <summary>The key of a profile is its name; a node's derived mesh identity is not stored.</summary>
    public static void Configure(BsonMapper mapper)
    {
        ArgumentNullException.ThrowIfNull(mapper);
        mapper.Entity<Profile>().Id(p => p.Name);
        mapper.Entity<NodeRecord>().Ignore(n => n.EffectiveMeshIdentity);
    }

    public NodeRecord? Get(string id) => _nodes.FindById(id);

    /// <summary>The live record with this MAC: a Replaced record only when no other has the MAC.</summary>
    public NodeRecord? FindByMac(string mac) =>
        _nodes.Find(ByMac(mac))
            .OrderBy(n => n.State == NodeState.Replaced ? 1 : 0)
            .ThenByDescending(n => n.LastSeenAt)
            .FirstOrDefault();

    public NodeRecord? FindByUuid(string uuid) => _nodes.FindOne(ByUuid(uuid));

    public NodeRecord? FindByName(string name) => _nodes.FindOne(ByName(name));

    public int Count(NodeState state) => _nodes.Count(ByState(state));

    // The lookups on the boot and attestation path, as expressions a test can ask LiteDB to plan: each
    // must be an index seek (collection "nodes", indexes made in the constructor), never a scan.

    /// <summary>Nodes with this MAC among their <c>Macs</c>: a seek in the multi-key index <c>macs</c>.</summary>
    internal static BsonExpression ByMac(string mac) => Query.EQ("$.Macs[*] ANY", mac);

    internal static BsonExpression ByUuid(string uuid) => Query.EQ(nameof(NodeRecord.Uuid), uuid);

    internal static BsonExpression ByName(string name) => Query.EQ(nameof(NodeRecord.Name), name);

    internal static BsonExpression ByEkFingerprint(string fingerprint) => Query.EQ(nameof(NodeRecord.EkFingerprint), fingerprint);

    internal static BsonExpression ByState(NodeState state) => Query.EQ(nameof(NodeRecord.State), state.ToString());

    public int DeleteStaleDiscovered(DateTime before, int limit)
    {
        var stale = _nodes.Find(ByState(NodeState.Discovered))
            .Where(n => n.EkFingerprint is null && n.LastSeenAt < before && n.FirstSeenAt < before)
            .Take(limit)
            .Select(n => n.Id)
            .ToList();
        foreach (var id in stale)
        {
            _events.DeleteMany(e => e.NodeId == id);
            _nodes.Delete(id);
        }

        return stale.Count;
    }

    public T InTransaction<T>(Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        var began = _db.BeginTrans();
        try
        {
            var result = work();
            if (began)
            {
                _db.Commit();
            }

            return result;
        }
        catch
        {
            if (began)
            {
                _db.Rollback();
            }

            throw;
        }
    }

    public IReadOnlyList<NodeRecord> FindByEkFingerprint(string fingerprint) => _nodes.Find(ByEkFingerprint(fingerprint)).ToList();

    public IReadOnlyList<NodeRecord> List() => _nodes.FindAll().OrderBy(n => n.Name, StringComparer.Ordinal).ToList();

    public void Upsert(NodeRecord node) => _nodes.Upsert(node);

    public NodeEvent Append(NodeEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        e.Id = 0;
        _events.Insert(e);
        return e;
    }

    public IReadOnlyList<NodeEvent> Events(string nodeId) => _events.Find(e => e.NodeId == nodeId).OrderBy(e => e.Id).ToList();

    public IReadOnlyList<NodeEvent> EventsAfter(long afterId, int limit) =>
        _events.Find(Query.GT("_id", afterId), limit: limit).OrderBy(e => e.Id).ToList();

    IReadOnlyList<Profile> IProfileStore.List() => _profiles.FindAll().OrderByDescending(p => p.Priority).ThenBy(p => p.Name, StringComparer.Ordinal).ToList();

    Profile? IProfileStore.Get(string name) => _profiles.FindById(name);

    void IProfileStore.Upsert(Profile profile) => _profiles.Upsert(profile);

    bool IProfileStore.Delete(string name) => _profiles.Delete(name);
}
