using System.Text.Json;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>What <see cref="IHardwareFactsStore"/> promises, whichever database keeps it.</summary>
public abstract class HardwareFactsStoreContract
{
    private static readonly DateTime T0 = new(2026, 12, 7, 9, 30, 15, 123, DateTimeKind.Utc);

    protected abstract IHardwareFactsStore Facts { get; }

    /// <summary>The node store of the same database, whose transaction the facts store joins.</summary>
    protected abstract INodeStore Nodes { get; }

    private HardwareFactsRecord Append(string nodeId, bool bound, string facts = "{}", int minute = 0) =>
        Facts.Append(new HardwareFactsRecord { NodeId = nodeId, At = T0.AddMinutes(minute), SessionId = $"s-{nodeId}-{minute}", Bound = bound, Facts = facts });

    [Fact]
    public void Append_AssignsIncreasingIds_AndHistoryReturnsEveryFieldAsStored()
    {
        // Canonical JSON is kept byte for byte: key order and spacing as sent (a jsonb column would reorder them).
        const string facts = "{\"z\":1,\"a\":[2, 3],\"m\":{\"y\":\"\\u00e9\"}}";
        var first = Facts.Append(new HardwareFactsRecord { Id = 77, NodeId = "0123456789ab", At = T0, SessionId = "session-1", Bound = true, Facts = facts });
        var second = Append("0123456789ab", bound: false, minute: 1);

        Assert.True(first.Id > 0);
        Assert.True(second.Id > first.Id);
        var history = Facts.History("0123456789ab", 50);
        Assert.Equal([second.Id, first.Id], history.Select(r => r.Id));
        Assert.Equal(JsonSerializer.Serialize(first), JsonSerializer.Serialize(history[1]));
        Assert.Equal(facts, history[1].Facts);
        Assert.Equal(DateTimeKind.Utc, history[1].At.Kind);
    }

    [Fact]
    public void History_OnlyThatNode_NewestFirst_UpToTheLimit()
    {
        var ids = Enumerable.Range(0, 5).Select(i => Append("000000000001", bound: true, minute: i).Id).ToList();
        Append("000000000002", bound: true);

        Assert.Equal(ids.AsEnumerable().Reverse().Take(3), Facts.History("000000000001", 3).Select(r => r.Id));
        Assert.Single(Facts.History("000000000002", 50));
        Assert.Empty(Facts.History("ffffffffffff", 50));
    }

    [Fact]
    public void LastBound_SkipsNewerUnboundRecordsAndOtherNodes()
    {
        Assert.Null(Facts.LastBound("000000000001"));
        Append("000000000001", bound: false, minute: 0);
        Assert.Null(Facts.LastBound("000000000001"));

        var bound = Append("000000000001", bound: true, "{\"cpu\":1}", minute: 1);
        Append("000000000001", bound: false, minute: 2);
        Append("000000000002", bound: true, minute: 3);

        var last = Facts.LastBound("000000000001")!;
        Assert.Equal(bound.Id, last.Id);
        Assert.Equal("{\"cpu\":1}", last.Facts);
    }

    [Fact]
    public void Append_InsideANodeStoreTransactionThatFails_IsRolledBackWithIt()
    {
        Assert.Throws<InvalidOperationException>(() => Nodes.InTransaction<int>(() =>
        {
            Nodes.Upsert(new NodeRecord { Id = "000000000001", Name = "n1", FirstSeenAt = T0, LastSeenAt = T0 });
            Append("000000000001", bound: true);
            throw new InvalidOperationException("the appraisal failed after storing");
        }));

        Assert.Empty(Facts.History("000000000001", 50));
        Assert.Null(Nodes.Get("000000000001"));

        Nodes.InTransaction(() => Append("000000000001", bound: true));
        Assert.Single(Facts.History("000000000001", 50));
    }
}

public sealed class LiteDbHardwareFactsStoreTests : HardwareFactsStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-factsstore-").FullName;
    private readonly LiteKldloadDatabase _db;

    public LiteDbHardwareFactsStoreTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        Facts = new LiteDbHardwareFactsStore(_db);
        Nodes = new LiteDbNodeStore(_db);
    }

    protected override IHardwareFactsStore Facts { get; }

    protected override INodeStore Nodes { get; }

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

public sealed class PostgresHardwareFactsStoreTests : HardwareFactsStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresKldloadDatabase _db;

    public PostgresHardwareFactsStoreTests(PostgresFixture postgres)
    {
        ArgumentNullException.ThrowIfNull(postgres);
        _db = PostgresKldloadDatabase.Open(postgres.CreateDatabase());
        Facts = new PostgresHardwareFactsStore(_db);
        Nodes = new PostgresNodeStore(_db);
    }

    protected override IHardwareFactsStore Facts { get; }

    protected override INodeStore Nodes { get; }

    public void Dispose() => _db.Dispose();
}
