using Kldload.Provisioner.Attestation;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>What <see cref="IRevokedEkStore"/> promises, whichever database keeps the revocations.</summary>
public abstract class RevokedEkStoreContract
{
    private static readonly DateTime At = new(2026, 3, 1, 12, 0, 0, 250, DateTimeKind.Utc);

    protected abstract IRevokedEkStore Store { get; }

    /// <summary>A second store over the same database, as after a restart.</summary>
    protected abstract IRevokedEkStore Reopen();

    [Fact]
    public void IsRevoked_NeverRevoked_FalseWithNoReason()
    {
        Store.Revoke("ek-other", "aaaaaaaaaaaa", "decommissioned", At);

        Assert.False(Store.IsRevoked("ek-1", out var why));
        Assert.Null(why);
    }

    [Fact]
    public void Revoke_ThenIsRevoked_TrueWithTheReason()
    {
        Store.Revoke("ek-1", "aaaaaaaaaaaa", "node aaaaaaaaaaaa decommissioned", At);

        Assert.True(Store.IsRevoked("ek-1", out var why));
        Assert.Equal("node aaaaaaaaaaaa decommissioned", why);
    }

    [Fact]
    public void Revoke_Twice_TheLaterReasonStands()
    {
        Store.Revoke("ek-1", "aaaaaaaaaaaa", "node aaaaaaaaaaaa decommissioned", At);
        Store.Revoke("ek-1", "bbbbbbbbbbbb", "node bbbbbbbbbbbb replaced by cccccccccccc", At.AddHours(1));

        Assert.True(Store.IsRevoked("ek-1", out var why));
        Assert.Equal("node bbbbbbbbbbbb replaced by cccccccccccc", why);
    }

    [Fact]
    public void Revoke_LocalTime_IsAccepted()
    {
        Store.Revoke("ek-1", "aaaaaaaaaaaa", "decommissioned", At.ToLocalTime());
        Store.Revoke("ek-2", "aaaaaaaaaaaa", "decommissioned", DateTime.SpecifyKind(At, DateTimeKind.Unspecified));

        Assert.True(Store.IsRevoked("ek-1", out _));
        Assert.True(Store.IsRevoked("ek-2", out _));
    }

    [Fact]
    public void Reopen_RevocationsSurviveARestart()
    {
        Store.Revoke("ek-1", "aaaaaaaaaaaa", "decommissioned", At);

        Assert.True(Reopen().IsRevoked("ek-1", out var why));
        Assert.Equal("decommissioned", why);
    }
}

/// <summary>The contract against LiteDB, in a temporary directory.</summary>
public sealed class LiteDbRevokedEkStoreTests : RevokedEkStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-revoked-").FullName;
    private readonly LiteKldloadDatabase _db;

    public LiteDbRevokedEkStoreTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        Store = new LiteDbRevokedEkStore(_db);
    }

    protected override IRevokedEkStore Store { get; }

    protected override IRevokedEkStore Reopen() => new LiteDbRevokedEkStore(_db);

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Revoke_Document_KeepsItsUntypedShape()
    {
        var at = new DateTime(2026, 3, 1, 12, 0, 0, DateTimeKind.Utc);
        Store.Revoke("ek-1", "aaaaaaaaaaaa", "decommissioned", at);

        var doc = _db.Database.GetCollection("revokedeks").FindById("ek-1");

        Assert.Equal(["_id", "nodeId", "why", "at"], doc.Keys.ToArray());
        Assert.Equal("aaaaaaaaaaaa", doc["nodeId"].AsString);
        Assert.Equal(at, doc["at"].AsDateTime);
    }
}

/// <summary>The contract against PostgreSQL, in a fresh database of the test cluster.</summary>
public sealed class PostgresRevokedEkStoreTests : RevokedEkStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _connectionString;
    private readonly PostgresKldloadDatabase _db;
    private readonly List<PostgresKldloadDatabase> _reopened = [];

    public PostgresRevokedEkStoreTests(PostgresFixture cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        _connectionString = cluster.CreateDatabase();
        _db = PostgresKldloadDatabase.Open(_connectionString);
        Store = new PostgresRevokedEkStore(_db);
    }

    protected override IRevokedEkStore Store { get; }

    /// <summary>A second database object on the same database, as another process would open it: its migrations are already there.</summary>
    protected override IRevokedEkStore Reopen()
    {
        var db = PostgresKldloadDatabase.Open(_connectionString);
        _reopened.Add(db);
        return new PostgresRevokedEkStore(db);
    }

    public void Dispose()
    {
        _reopened.ForEach(db => db.Dispose());
        _db.Dispose();
    }

    [Fact]
    public void IsRevoked_IsAPrimaryKeyLookup()
    {
        var plan = PostgresPlanCheck.Explain(_db, PostgresRevokedEkStore.IsRevokedSql, ("fingerprint", "ek"));
        Assert.Contains("revoked_eks_pkey", plan, StringComparison.Ordinal);
    }
}
