using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Kldload.Provisioner.Tests.Inventory;

/// <summary>Discovered nodes (a script request makes one) are bounded in number and in time.</summary>
public sealed class DiscoveredBoundsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-bounds-").FullName;
    private readonly LiteKldloadDatabase _db;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));

    public DiscoveredBoundsTests() => _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static BootFacts Facts(int i) => new($"52:54:00:d0:00:{i:x2}", null, null, null, null, null, null);

    [Fact]
    public void RecordBoot_PastMaxDiscovered_RefusedAndKnownMacsStillRecorded()
    {
        var nodes = new NodeService(new LiteDbNodeStore(_db), _time) { MaxDiscovered = 3 };
        for (var i = 0; i < 3; i++)
        {
            nodes.RecordBoot(Facts(i), NodeEventKind.Script, "script");
        }

        var e = Assert.Throws<InventoryFullException>(() => nodes.RecordBoot(Facts(3), NodeEventKind.Script, "script"));
        Assert.Contains("Inventory:MaxDiscovered", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, nodes.Store.List().Count);

        // A node already known boots again whatever the bound.
        Assert.Equal(nodes.Store.FindByMac(Facts(1).Mac)!.Id, nodes.RecordBoot(Facts(1), NodeEventKind.Script, "again").Id);
    }

    [Fact]
    public void ExpireDiscovered_AfterTtl_RemovesOnlyNeverAttestedNodesNotSeenSince()
    {
        var store = new LiteDbNodeStore(_db);
        var nodes = new NodeService(store, _time);
        var stale = nodes.RecordBoot(Facts(1), NodeEventKind.Script, "script");
        var attested = nodes.RecordBoot(Facts(2), NodeEventKind.Script, "script");
        nodes.Update(attested.Id, NodeEventKind.Attestation, "attested", "node", n => n.EkFingerprint = new string('a', 64));
        var seenLater = nodes.RecordBoot(Facts(3), NodeEventKind.Script, "script");

        _time.Advance(TimeSpan.FromHours(20));
        nodes.RecordBoot(Facts(3), NodeEventKind.Script, "seen again");
        _time.Advance(TimeSpan.FromHours(5));

        Assert.Equal(1, nodes.ExpireDiscovered(_time.GetUtcNow().UtcDateTime - TimeSpan.FromHours(24)));
        Assert.Null(store.Get(stale.Id));
        Assert.Empty(store.Events(stale.Id));
        Assert.NotNull(store.Get(attested.Id));
        Assert.NotNull(store.Get(seenLater.Id));
    }

    [Fact]
    public void RecordBoot_AttestedNode_SelfReportedFactsIgnored()
    {
        var nodes = new NodeService(new LiteDbNodeStore(_db), _time);
        var node = nodes.RecordBoot(Facts(1) with { Serial = "REAL", Uuid = "u-real" }, NodeEventKind.Script, "script");
        nodes.Update(node.Id, NodeEventKind.Attestation, "attested", "node", n => n.EkFingerprint = new string('b', 64));

        var after = nodes.RecordBoot(Facts(1) with { Serial = "EVIL", Uuid = "u-evil", Manufacturer = "evil" }, NodeEventKind.Script, "script");
        Assert.Equal("REAL", after.Serial);
        Assert.Equal("u-real", after.Uuid);
        Assert.Null(after.Manufacturer);
    }
}
