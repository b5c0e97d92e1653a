using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Power;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>What <see cref="IRolloutStore"/> promises, whichever database keeps the rollouts.</summary>
public abstract class RolloutStoreContract
{
    /// <summary>Millisecond-aligned: LiteDB keeps times to the millisecond.</summary>
    private static readonly DateTime At = new(2026, 3, 1, 12, 0, 0, 250, DateTimeKind.Utc);

    protected abstract IRolloutStore Store { get; }

    /// <summary>A second store over the same database, as after a restart.</summary>
    protected abstract IRolloutStore Reopen();

    /// <summary>Every field set to a value unlike its default, nodes and skips included.</summary>
    internal static RolloutRecord Full(string id, DateTime createdAt, RolloutState state = RolloutState.Paused) => new()
    {
        Id = id,
        Channel = "stable",
        Action = "rollback",
        Target = new ImageRef { Name = "debian-13", Version = "2026.03.01" },
        Previous = new ImageRef { Name = "debian-13", Version = "2026.02.14" },
        MaxUnavailable = 3,
        PauseOnFailure = true,
        AutoRollback = true,
        NodeTimeoutSeconds = 1234.5,
        State = state,
        Reason = "node n2 did not come back Ready",
        StopReason = "n2: timed out after 1234.5 s",
        By = "alice",
        CreatedAt = createdAt,
        UpdatedAt = createdAt.AddMinutes(5),
        FinishedAt = createdAt.AddMinutes(9),
        Nodes =
        [
            new RolloutNode { NodeId = "aaaaaaaaaaaa", Name = "n1", Wave = 0, State = RolloutNodeState.Ready, StartedAt = createdAt.AddSeconds(1), FinishedAt = createdAt.AddSeconds(90), BootToMeshSeconds = 41.25 },
            new RolloutNode { NodeId = "bbbbbbbbbbbb", Name = "n2", Wave = 1, State = RolloutNodeState.RolledBack, Reason = "timed out", StartedAt = createdAt.AddSeconds(91), FinishedAt = createdAt.AddSeconds(300), BootToMeshSeconds = 77.5 },
            new RolloutNode { NodeId = "cccccccccccc", Name = "n3", Wave = 2, State = RolloutNodeState.Pending },
        ],
        Skipped = [new RolloutSkip { NodeId = "dddddddddddd", Name = "n4", Reason = "no BMC" }],
    };

    [Fact]
    public void Get_Unknown_ReturnsNull()
    {
        Store.Upsert(Full("0000000a", At));

        Assert.Null(Store.Get("0000000b"));
    }

    [Fact]
    public void Upsert_EveryField_RoundTrips()
    {
        var rollout = Full("0000000a", At);
        AttestationSessionStoreContract.AssertEveryPropertySet(rollout);
        AttestationSessionStoreContract.AssertEveryPropertySet(rollout.Nodes[1]);
        AttestationSessionStoreContract.AssertEveryPropertySet(rollout.Skipped[0]);

        Store.Upsert(rollout);

        var found = Assert.IsType<RolloutRecord>(Store.Get("0000000a"));
        Assert.Equivalent(rollout, found, strict: true);
        Assert.All(new[] { found.CreatedAt, found.UpdatedAt, found.FinishedAt!.Value, found.Nodes[0].StartedAt!.Value, found.Nodes[1].FinishedAt!.Value },
            t => Assert.Equal(DateTimeKind.Utc, t.Kind));
        Assert.Null(found.Nodes[0].Reason);
        Assert.Null(found.Nodes[2].StartedAt);
        Assert.Null(found.Nodes[2].BootToMeshSeconds);
        Assert.Equal(3, found.WaveCount);
    }

    [Fact]
    public void Upsert_NoPreviousNodesOrSkips_ReadsBackNullAndEmpty()
    {
        var rollout = new RolloutRecord
        {
            Id = "0000000a",
            Channel = "edge",
            Action = "promote",
            Target = new ImageRef { Name = "alma-10", Version = "1" },
            NodeTimeoutSeconds = 600,
            State = RolloutState.Running,
            By = "admin",
            CreatedAt = At,
            UpdatedAt = At,
        };

        Store.Upsert(rollout);

        var found = Assert.IsType<RolloutRecord>(Store.Get("0000000a"));
        Assert.Equivalent(rollout, found, strict: true);
        Assert.Null(found.Previous);
        Assert.Null(found.FinishedAt);
        Assert.Empty(found.Nodes);
        Assert.Empty(found.Skipped);
    }

    [Fact]
    public void Upsert_Again_ReplacesTheRolloutWhole()
    {
        Store.Upsert(Full("0000000a", At, RolloutState.Running));
        var later = Full("0000000a", At, RolloutState.Completed);
        later.Nodes = [later.Nodes[0]];
        later.Skipped = [];
        later.Previous = null;
        later.Reason = null;

        Store.Upsert(later);

        var found = Assert.IsType<RolloutRecord>(Store.Get("0000000a"));
        Assert.Equivalent(later, found, strict: true);
        Assert.Single(Store.List());
    }

    [Fact]
    public void List_NewestFirst()
    {
        Store.Upsert(Full("0000000b", At.AddHours(1), RolloutState.Completed));
        Store.Upsert(Full("0000000a", At, RolloutState.Failed));
        Store.Upsert(Full("0000000c", At.AddHours(2), RolloutState.Running));

        Assert.Equal(["0000000c", "0000000b", "0000000a"], Store.List().Select(r => r.Id));
    }

    [Fact]
    public void List_Empty_IsEmpty()
    {
        Assert.Empty(Store.List());
        Assert.Empty(Store.Active());
    }

    [Fact]
    public void Active_RunningAndPausedOnly_OldestFirst()
    {
        Store.Upsert(Full("0000000d", At.AddHours(3), RolloutState.Running));
        Store.Upsert(Full("0000000a", At, RolloutState.Completed));
        Store.Upsert(Full("0000000b", At.AddHours(1), RolloutState.Paused));
        Store.Upsert(Full("0000000c", At.AddHours(2), RolloutState.Cancelled));
        Store.Upsert(Full("0000000e", At.AddHours(4), RolloutState.Failed));

        Assert.Equal(["0000000b", "0000000d"], Store.Active().Select(r => r.Id));

        var done = Full("0000000b", At.AddHours(1), RolloutState.Completed);
        Store.Upsert(done);
        Assert.Equal(["0000000d"], Store.Active().Select(r => r.Id));
    }

    [Fact]
    public void Reopen_RolloutsSurviveARestart()
    {
        var rollout = Full("0000000a", At, RolloutState.Running);
        Store.Upsert(rollout);

        var again = Reopen();

        Assert.Equivalent(rollout, again.Get("0000000a"), strict: true);
        Assert.Equal(["0000000a"], again.Active().Select(r => r.Id));
    }
}

/// <summary>The contract against LiteDB, in a temporary directory.</summary>
public sealed class LiteDbRolloutStoreTests : RolloutStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-rollouts-").FullName;
    private readonly LiteKldloadDatabase _db;

    public LiteDbRolloutStoreTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        Store = new LiteDbRolloutStore(_db);
    }

    protected override IRolloutStore Store { get; }

    protected override IRolloutStore Reopen() => new LiteDbRolloutStore(_db);

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Upsert_Document_KeepsTheFieldsTheAttributedTypeWrote()
    {
        Store.Upsert(Full("0000000a", new DateTime(2026, 3, 1, 12, 0, 0, DateTimeKind.Utc)));

        var doc = _db.Database.GetCollection("rollouts").FindById("0000000a");

        // The computed IsActive and WaveCount were [BsonIgnore]: still not stored.
        Assert.Equal(
            ["_id", "Channel", "Action", "Target", "Previous", "MaxUnavailable", "PauseOnFailure", "AutoRollback", "NodeTimeoutSeconds",
             "State", "Reason", "StopReason", "By", "CreatedAt", "UpdatedAt", "FinishedAt", "Nodes", "Skipped"],
            doc.Keys.ToArray());
        Assert.Equal(["Name", "Version"], doc["Target"].AsDocument.Keys.ToArray());
        Assert.Equal(["NodeId", "Name", "Wave", "State", "StartedAt", "FinishedAt", "BootToMeshSeconds"], doc["Nodes"][0].AsDocument.Keys.ToArray());
        Assert.Equal("RolledBack", doc["Nodes"][1]["State"].AsString);
    }
}

/// <summary>The contract against PostgreSQL, in a fresh database of the test cluster.</summary>
public sealed class PostgresRolloutStoreTests : RolloutStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _connectionString;
    private readonly PostgresKldloadDatabase _db;
    private readonly List<PostgresKldloadDatabase> _reopened = [];

    public PostgresRolloutStoreTests(PostgresFixture cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        _connectionString = cluster.CreateDatabase();
        _db = PostgresKldloadDatabase.Open(_connectionString);
        Store = new PostgresRolloutStore(_db);
    }

    protected override IRolloutStore Store { get; }

    /// <summary>A second database object on the same database, as another process would open it: its migrations are already there.</summary>
    protected override IRolloutStore Reopen()
    {
        var db = PostgresKldloadDatabase.Open(_connectionString);
        _reopened.Add(db);
        return new PostgresRolloutStore(db);
    }

    public void Dispose()
    {
        _reopened.ForEach(db => db.Dispose());
        _db.Dispose();
    }

    [Theory]
    [InlineData(PostgresRolloutStore.GetSql, "rollouts_pkey")]
    [InlineData(PostgresRolloutStore.ActiveSql, "rollouts_active")]
    public void Lookup_IsAnIndexLookup(string sql, string index)
    {
        var plan = PostgresPlanCheck.Explain(_db, sql, ("id", "0000000a"));
        Assert.Contains(index, plan, StringComparison.Ordinal);
        Assert.DoesNotContain("Seq Scan", plan, StringComparison.Ordinal);
    }
}
