using System.Net;
using LiteDB;

namespace Kldload.MeshCA.Distribution;

/// <summary>
/// <see cref="IMeshRosterStore"/> in LiteDB collections <c>mesh_members</c> (by node id),
/// <c>mesh_revoked</c> (by base64 public key), <c>mesh_hubs</c> (by instance id) and <c>mesh_settings</c>
/// (the epoch). Mapped by hand (AOT-safe).
/// </summary>
public sealed class LiteDbMeshRosterStore : IMeshRosterStore
{
    private const string EpochSetting = "epoch";
    private readonly ILiteCollection<BsonDocument> _members;
    private readonly ILiteCollection<BsonDocument> _revoked;
    private readonly ILiteCollection<BsonDocument> _settings;
    private readonly ILiteCollection<BsonDocument> _hubs;

    public LiteDbMeshRosterStore(ILiteDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _members = database.GetCollection("mesh_members");
        _revoked = database.GetCollection("mesh_revoked");
        _settings = database.GetCollection("mesh_settings");
        _hubs = database.GetCollection("mesh_hubs");
    }

    public ulong GetEpoch() => _settings.FindById(EpochSetting) is { } d ? (ulong)d["value"].AsInt64 : 0;

    public void SetEpoch(ulong epoch) => _settings.Upsert(new BsonDocument { ["_id"] = EpochSetting, ["value"] = (long)epoch });

    /// <summary>One process owns a LiteDB file and the roster calls this under its lock: read, then write.</summary>
    public ulong NextEpoch(ulong current)
    {
        var next = Math.Max(GetEpoch(), current) + 1;
        SetEpoch(next);
        return next;
    }

    public IReadOnlyList<MeshMember> Members() => [.. _members.FindAll().Select(d => new MeshMember
    {
        NodeId = d["_id"].AsString,
        PublicKey = d["key"].AsBinary,
        KeyEpoch = (uint)d["keyEpoch"].AsInt64,
        Address6 = IPAddress.Parse(d["v6"].AsString),
        Address4 = d["v4"].IsNull ? null : IPAddress.Parse(d["v4"].AsString),
        Endpoint = d["endpoint"].IsNull ? null : d["endpoint"].AsString,
        Hub = d["hub"].IsString ? d["hub"].AsString : null,
        Labels = d["labels"].IsDocument ? d["labels"].AsDocument.ToDictionary(l => l.Key, l => l.Value.AsString, StringComparer.Ordinal) : new Dictionary<string, string>(),
    })];

    public void SaveMember(MeshMember member)
    {
        ArgumentNullException.ThrowIfNull(member);
        _members.Upsert(new BsonDocument
        {
            ["_id"] = member.NodeId,
            ["key"] = member.PublicKey,
            ["keyEpoch"] = (long)member.KeyEpoch,
            ["v6"] = member.Address6.ToString(),
            ["v4"] = member.Address4?.ToString() ?? BsonValue.Null,
            ["endpoint"] = member.Endpoint ?? BsonValue.Null,
            ["hub"] = member.Hub ?? BsonValue.Null,
            ["labels"] = new BsonDocument(member.Labels.ToDictionary(l => l.Key, l => new BsonValue(l.Value))),
        });
    }

    public void DeleteMember(string nodeId) => _members.Delete(nodeId);

    public IReadOnlyList<RevokedKey> Revoked() => [.. _revoked.FindAll().Select(d => new RevokedKey
    {
        PublicKey = Convert.FromBase64String(d["_id"].AsString),
        NodeId = d["node"].AsString,
        KeyEpoch = (uint)d["keyEpoch"].AsInt64,
        RevokedAt = new DateTimeOffset(DateTime.SpecifyKind(d["at"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc)),
    }).OrderBy(k => k.RevokedAt)];

    public void AddRevoked(RevokedKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        _revoked.Upsert(new BsonDocument
        {
            ["_id"] = Convert.ToBase64String(key.PublicKey),
            ["node"] = key.NodeId,
            ["keyEpoch"] = (long)key.KeyEpoch,
            ["at"] = key.RevokedAt.UtcDateTime,
        });
    }

    public IReadOnlyList<MeshHubRecord> Hubs() => [.. _hubs.FindAll().Select(d => new MeshHubRecord
    {
        InstanceId = d["_id"].AsString,
        PublicKey = d["key"].AsBinary,
        Endpoint = d["endpoint"].AsString,
        SeenAt = new DateTimeOffset(DateTime.SpecifyKind(d["seen"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc)),
    }).OrderBy(h => h.InstanceId, StringComparer.Ordinal)];

    public void SaveHub(MeshHubRecord hub)
    {
        ArgumentNullException.ThrowIfNull(hub);
        _hubs.Upsert(new BsonDocument
        {
            ["_id"] = hub.InstanceId,
            ["key"] = hub.PublicKey,
            ["endpoint"] = hub.Endpoint,
            ["seen"] = hub.SeenAt.UtcDateTime,
        });
    }
}
