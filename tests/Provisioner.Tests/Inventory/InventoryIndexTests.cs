using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Storage;
using LiteDB;
using Microsoft.Extensions.Time.Testing;

namespace Kldload.Provisioner.Tests.Inventory;

/// <summary>
/// Every inventory lookup on the boot and attestation path is an index seek in LiteDB's own query
/// plan (not a scan whose cost grows with the inventory), and finds the right record among many.
/// </summary>
public sealed class InventoryIndexTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-index-").FullName;
    private readonly LiteKldloadDatabase _db;
    private readonly LiteDbNodeStore _store;

    public InventoryIndexTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        _store = new LiteDbNodeStore(_db);
    }

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    public static TheoryData<string, string> Lookups() => new()
    {
        { "mac", "macs" },
        { "uuid", nameof(NodeRecord.Uuid) },
        { "name", nameof(NodeRecord.Name) },
        { "ek", nameof(NodeRecord.EkFingerprint) },
        { "state", nameof(NodeRecord.State) },
    };

    private static BsonExpression Lookup(string kind) => kind switch
    {
        "mac" => LiteDbNodeStore.ByMac("52:54:00:00:00:07"),
        "uuid" => LiteDbNodeStore.ByUuid("00000000-0000-4000-8000-000000000007"),
        "name" => LiteDbNodeStore.ByName("node-000007"),
        "ek" => LiteDbNodeStore.ByEkFingerprint(new string('7', 64)),
        _ => LiteDbNodeStore.ByState(NodeState.Discovered),
    };

    [Theory]
    [MemberData(nameof(Lookups))]
    public void Lookup_QueryPlan_SeeksItsIndex(string kind, string index)
    {
        Seed(50);
        var plan = _db.Database.GetCollection("nodes").Query().Where(Lookup(kind)).GetPlan();
        Assert.Equal(index, plan["index"]["name"].AsString);
        Assert.StartsWith("INDEX SEEK", plan["index"]["mode"].AsString, StringComparison.Ordinal);
    }

    [Fact]
    public void Lookups_AmongManyNodes_FindTheOneRecord()
    {
        Seed(500);
        Assert.Equal("n0123", _store.FindByMac("52:54:00:00:01:23")!.Id);
        Assert.Equal("n0123", _store.FindByUuid("00000000-0000-4000-8000-000000000123")!.Id);
        Assert.Equal("n0123", _store.FindByName("node-000123")!.Id);
        Assert.Equal("n0123", Assert.Single(_store.FindByEkFingerprint(new string('0', 61) + "123")).Id);
        Assert.Equal("n0124", _store.FindByMac("52:54:00:00:f1:25")!.Id);
        Assert.Null(_store.FindByMac("52:54:00:00:f9:99"));
        Assert.Equal(250, _store.Count(NodeState.Discovered));
        Assert.Equal(250, _store.Count(NodeState.Ready));
    }

    [Fact]
    public void RecordBoot_AfterTheBoundRefusedAndNodesAttested_AcceptsNewMacsAgain()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        var nodes = new NodeService(_store, time) { MaxDiscovered = 2 };
        static BootFacts Facts(int i) => new($"52:54:00:e0:00:{i:x2}", null, null, null, null, null, null);
        var first = nodes.RecordBoot(Facts(1), NodeEventKind.Script, "script");
        nodes.RecordBoot(Facts(2), NodeEventKind.Script, "script");
        Assert.Throws<InventoryFullException>(() => nodes.RecordBoot(Facts(3), NodeEventKind.Script, "script"));

        // One Discovered node leaves that state: the bound is counted again and room is found.
        nodes.Transition(first.Id, NodeState.Enrolling, "test", null);
        Assert.Equal(Facts(3).Mac, nodes.RecordBoot(Facts(3), NodeEventKind.Script, "script").Macs[0]);
        Assert.Throws<InventoryFullException>(() => nodes.RecordBoot(Facts(4), NodeEventKind.Script, "script"));
        Assert.Equal(2, _store.Count(NodeState.Discovered));
    }

    /// <summary>Nodes n0000.. with a MAC, UUID, name and EK fingerprint each; every odd one also has a second MAC; half Ready.</summary>
    private void Seed(int count)
    {
        _store.InTransaction(() =>
        {
            for (var i = 0; i < count; i++)
            {
                var macs = new List<string> { $"52:54:00:00:{i >> 8:x2}:{i & 0xff:x2}" };
                if (i % 2 == 0)
                {
                    macs.Add($"52:54:00:00:{0xf0 | (i >> 8):x2}:{(i + 1) & 0xff:x2}");
                }

                _store.Upsert(new NodeRecord
                {
                    Id = $"n{i:x4}",
                    Name = $"node-{i:x6}",
                    Macs = macs,
                    Uuid = $"00000000-0000-4000-8000-{i:x12}",
                    EkFingerprint = i % 2 == 0 ? null : new string('0', 64 - $"{i:x}".Length) + $"{i:x}",
                    State = i % 2 == 0 ? NodeState.Discovered : NodeState.Ready,
                });
            }

            return 0;
        });
    }
}
