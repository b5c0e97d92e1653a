using System.Globalization;
using LiteDB;

namespace Kldload.MeshCA.Addressing;

/// <summary>
/// <see cref="IMeshAddressStore"/> in LiteDB collections <c>mesh_addresses</c> (one document per
/// interface id) and <c>mesh_settings</c>. Documents are mapped by hand (no reflection), so the
/// library stays trimming- and AOT-safe.
/// </summary>
public sealed class LiteDbMeshAddressStore : IMeshAddressStore
{
    private const string AddressCollection = "mesh_addresses";
    private const string SettingCollection = "mesh_settings";

    private readonly ILiteCollection<BsonDocument> _addresses;
    private readonly ILiteCollection<BsonDocument> _settings;

    public LiteDbMeshAddressStore(ILiteDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _addresses = database.GetCollection(AddressCollection);
        _settings = database.GetCollection(SettingCollection);
        _addresses.EnsureIndex("node");
        _addresses.EnsureIndex("v4");
    }

    public string? GetSetting(string name) => _settings.FindById(name)?["value"].AsString;

    public void SetSetting(string name, string value) =>
        _settings.Upsert(new BsonDocument { ["_id"] = name, ["value"] = value });

    public string AddSettingIfAbsent(string name, string value)
    {
        try
        {
            _settings.Insert(new BsonDocument { ["_id"] = name, ["value"] = value });
            return value;
        }
        catch (LiteException e) when (e.ErrorCode == LiteException.INDEX_DUPLICATE_KEY)
        {
            return GetSetting(name) ?? value;
        }
    }

    public MeshAddressRecord? FindByInterfaceId(ulong interfaceId) =>
        _addresses.FindById(Key(interfaceId)) is { } d ? FromDocument(d) : null;

    public MeshAddressRecord? FindByAddress4(uint address4) =>
        _addresses.FindOne(Query.EQ("v4", (long)address4)) is { } d ? FromDocument(d) : null;

    public IReadOnlyList<MeshAddressRecord> FindByNode(string nodeId) =>
        [.. _addresses.Find(Query.EQ("node", nodeId)).Select(FromDocument)];

    public IReadOnlyList<MeshAddressRecord> All() => [.. _addresses.FindAll().Select(FromDocument)];

    public void Save(MeshAddressRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        // The allocator checks before it saves (under its lock, in this one process); these checks keep
        // the store's contract the same as the PostgreSQL store's, whose constraints enforce it.
        if (_addresses.FindById(Key(record.InterfaceId)) is { } held && held["node"].AsString != record.NodeId)
        {
            throw new MeshAddressConflictException($"interface id {Key(record.InterfaceId)} is held by node {held["node"].AsString}");
        }

        if (record.Address4 is { } address4
            && _addresses.FindOne(Query.EQ("v4", (long)address4)) is { } holder4
            && holder4["_id"].AsString != Key(record.InterfaceId))
        {
            throw new MeshAddressConflictException($"IPv4 mesh address {address4:x8} is held by node {holder4["node"].AsString}");
        }

        var d = new BsonDocument
        {
            ["_id"] = Key(record.InterfaceId),
            ["node"] = record.NodeId,
            ["ek"] = record.EkSha256,
            ["v4"] = record.Address4 is { } v4 ? new BsonValue((long)v4) : BsonValue.Null,
            ["allocated"] = record.AllocatedAt.UtcDateTime,
            ["released"] = record.ReleasedAt is { } r ? new BsonValue(r.UtcDateTime) : BsonValue.Null,
        };
        _addresses.Upsert(d);
    }

    public void Delete(ulong interfaceId) => _addresses.Delete(Key(interfaceId));

    private static string Key(ulong interfaceId) => interfaceId.ToString("x16", CultureInfo.InvariantCulture);

    private static MeshAddressRecord FromDocument(BsonDocument d) => new()
    {
        InterfaceId = ulong.Parse(d["_id"].AsString, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
        NodeId = d["node"].AsString,
        EkSha256 = d["ek"].AsString,
        Address4 = d["v4"].IsNull ? null : (uint)d["v4"].AsInt64,
        AllocatedAt = new DateTimeOffset(DateTime.SpecifyKind(d["allocated"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc)),
        ReleasedAt = d["released"].IsNull ? null : new DateTimeOffset(DateTime.SpecifyKind(d["released"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc)),
    };
}
