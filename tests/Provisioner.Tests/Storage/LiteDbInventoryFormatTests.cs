using Kldload.Provisioner.Api;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Storage;
using LiteDB;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// kldload.db keeps the document shape it had when the domain types carried <c>[BsonId]</c> and
/// <c>[BsonIgnore]</c>: the stores write the same keys, and read documents written in that shape.
/// </summary>
public sealed class LiteDbInventoryFormatTests : IDisposable
{
    private static readonly DateTime T0 = new(2026, 12, 7, 9, 30, 15, 123, DateTimeKind.Utc);
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-format-").FullName;
    private readonly LiteKldloadDatabase _db;

    public LiteDbInventoryFormatTests() => _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private BsonDocument Raw(string collection) => Assert.Single(_db.Database.GetCollection(collection).FindAll());

    [Fact]
    public void Stores_WriteTheKeyAs_id_AndNoDerivedMembers()
    {
        var nodes = new LiteDbNodeStore(_db);
        nodes.Upsert(new NodeRecord { Id = "0123456789ab", Name = "n1", Macs = ["52:54:00:00:00:01"], FirstSeenAt = T0, LastSeenAt = T0 });
        ((IProfileStore)nodes).Upsert(new Profile { Name = "storage", Priority = 3 });
        nodes.Append(new NodeEvent { NodeId = "0123456789ab", At = T0, Message = "seen" });
        new LiteDbHardwareFactsStore(_db).Append(new HardwareFactsRecord { NodeId = "0123456789ab", At = T0, SessionId = "s1", Facts = "{}" });
        new LiteDbBootTokenStore(_db).Insert(new BootToken { Token = "tok", NodeId = "0123456789ab", Mac = "52:54:00:00:00:01", IssuedAt = T0, ExpiresAt = T0 });
        new LiteDbOperatorTokenStore(_db).TryInsert(new OperatorToken { Name = "alice", Role = OperatorRole.Admin, Hash = [1, 2], Created = T0, CreatedBy = "admin" });

        var node = Raw("nodes");
        Assert.Equal("0123456789ab", node["_id"].AsString);
        Assert.False(node.ContainsKey("Id"));
        Assert.False(node.ContainsKey("EffectiveMeshIdentity"));
        Assert.Equal("n1", node["Name"].AsString);
        Assert.Equal("Discovered", node["State"].AsString);

        var profile = Raw("profiles");
        Assert.Equal("storage", profile["_id"].AsString);
        Assert.False(profile.ContainsKey("Name"));
        Assert.Equal(3, profile["Priority"].AsInt32);

        var e = Raw("events");
        Assert.True(e["_id"].IsInt64);
        Assert.Equal("0123456789ab", e["NodeId"].AsString);

        var facts = Raw("node_facts");
        Assert.True(facts["_id"].IsInt64);
        Assert.False(facts.ContainsKey("Id"));

        var token = Raw("boottokens");
        Assert.Equal("tok", token["_id"].AsString);
        Assert.False(token.ContainsKey("Token"));

        var op = Raw("operator_tokens");
        Assert.Equal("alice", op["_id"].AsString);
        Assert.False(op.ContainsKey("Name"));
        Assert.Equal("Admin", op["Role"].AsString);
    }

    [Fact]
    public void Stores_ReadDocumentsWrittenInTheAttributeMappedShape()
    {
        // Documents as the attribute-mapped types wrote them: the key in _id, the rest by member name.
        var db = _db.Database;
        db.GetCollection("nodes").Insert(new BsonDocument
        {
            ["_id"] = "0123456789ab",
            ["Name"] = "n1",
            ["Macs"] = new BsonArray(new BsonValue("52:54:00:00:00:01")),
            ["State"] = "Ready",
            ["EkFingerprint"] = new string('e', 64),
            ["FirstSeenAt"] = T0,
            ["LastSeenAt"] = T0,
            ["Labels"] = new BsonDocument { ["rack"] = "r1" },
            ["Epoch"] = 3L,
        });
        db.GetCollection("profiles").Insert(new BsonDocument { ["_id"] = "storage", ["Priority"] = 3, ["Match"] = new BsonDocument { ["Macs"] = new BsonArray(new BsonValue("52:54:00:00:00:01")) } });
        db.GetCollection("events").Insert(new BsonDocument { ["_id"] = 5L, ["NodeId"] = "0123456789ab", ["At"] = T0, ["Kind"] = "Operator", ["Message"] = "approved", ["Actor"] = "alice" });
        db.GetCollection("node_facts").Insert(new BsonDocument { ["_id"] = 9L, ["NodeId"] = "0123456789ab", ["At"] = T0, ["SessionId"] = "s1", ["Bound"] = true, ["Facts"] = "{\"cpu\":1}" });
        db.GetCollection("boottokens").Insert(new BsonDocument { ["_id"] = "tok", ["NodeId"] = "0123456789ab", ["Mac"] = "52:54:00:00:00:01", ["IssuedAt"] = T0, ["ExpiresAt"] = T0.AddMinutes(30) });
        db.GetCollection("operator_tokens").Insert(new BsonDocument { ["_id"] = "alice", ["Role"] = "Operator", ["Hash"] = new byte[] { 1, 2 }, ["Created"] = T0, ["CreatedBy"] = "admin" });

        var nodes = new LiteDbNodeStore(_db);
        var node = nodes.FindByMac("52:54:00:00:00:01")!;
        Assert.Equal("0123456789ab", node.Id);
        Assert.Equal(NodeState.Ready, node.State);
        Assert.Equal("r1", node.Labels["rack"]);
        Assert.Equal(3u, node.Epoch);
        Assert.Equal(node.Id, Assert.Single(nodes.FindByEkFingerprint(new string('e', 64))).Id);
        var profile = ((IProfileStore)nodes).Get("storage")!;
        Assert.Equal("storage", profile.Name);
        Assert.Equal(["52:54:00:00:00:01"], profile.Match.Macs);
        var e = Assert.Single(nodes.Events("0123456789ab"));
        Assert.Equal(5, e.Id);
        Assert.Equal(NodeEventKind.Operator, e.Kind);
        Assert.Equal(6, nodes.Append(new NodeEvent { NodeId = "0123456789ab", At = T0, Message = "next" }).Id);

        var facts = new LiteDbHardwareFactsStore(_db);
        Assert.Equal(9, facts.LastBound("0123456789ab")!.Id);
        Assert.Equal(10, facts.Append(new HardwareFactsRecord { NodeId = "0123456789ab", At = T0, SessionId = "s2", Facts = "{}" }).Id);

        var token = new LiteDbBootTokenStore(_db).Find("tok")!;
        Assert.Equal("tok", token.Token);
        Assert.Equal(T0.AddMinutes(30), token.ExpiresAt);

        var op = new LiteDbOperatorTokenStore(_db).Get("alice")!;
        Assert.Equal("alice", op.Name);
        Assert.Equal(OperatorRole.Operator, op.Role);
        Assert.Equal(new byte[] { 1, 2 }, op.Hash);
    }
}
