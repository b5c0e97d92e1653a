using Kldload.Provisioner.Power;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>What <see cref="IBmcStore"/> promises, whichever database keeps the records.</summary>
public abstract class BmcStoreContract
{
    /// <summary>Millisecond-aligned: LiteDB keeps times to the millisecond.</summary>
    private static readonly DateTime At = new(2026, 3, 1, 12, 0, 0, 250, DateTimeKind.Utc);

    protected abstract IBmcStore Store { get; }

    /// <summary>A second store over the same database, as after a restart.</summary>
    protected abstract IBmcStore Reopen();

    internal static BmcRecord Redfish(string nodeId) => new()
    {
        Id = nodeId,
        Protocol = BmcProtocol.Redfish,
        Address = "https://10.0.0.9:8443",
        Port = 443,
        User = "root",
        // The sealed form, opaque to the store: kept byte for byte.
        SealedPassword = "v1.q2Zy0Ab+/cD3=.sealed/with+the=key",
        SystemId = "System.Embedded.1",
        Fingerprint = "AB:CD:EF:01:23:45:67:89",
        BmcUuid = "4c4c4544-0042-3510-8052-b4c04f4d3532",
        PairingWarning = "the BMC reports system 4c4c... but the node reported 5d5d...",
        UpdatedAt = At,
    };

    [Fact]
    public void Get_NeverSet_ReturnsNull()
    {
        Store.Upsert(Redfish("bbbbbbbbbbbb"));

        Assert.Null(Store.Get("aaaaaaaaaaaa"));
    }

    [Fact]
    public void Upsert_EveryField_RoundTrips()
    {
        var record = Redfish("aaaaaaaaaaaa");
        AttestationSessionStoreContract.AssertEveryPropertySet(record);

        Store.Upsert(record);

        var found = Assert.IsType<BmcRecord>(Store.Get("aaaaaaaaaaaa"));
        Assert.Equivalent(record, found, strict: true);
        Assert.Equal(DateTimeKind.Utc, found.UpdatedAt.Kind);
        Assert.Equal(record.SealedPassword, found.SealedPassword);
    }

    [Fact]
    public void Upsert_Again_ReplacesEveryField()
    {
        Store.Upsert(Redfish("aaaaaaaaaaaa"));
        var ipmi = new BmcRecord
        {
            Id = "aaaaaaaaaaaa",
            Protocol = BmcProtocol.Ipmi,
            Address = "10.0.0.10",
            Port = 623,
            User = "ADMIN",
            SealedPassword = "v1.other.ciphertext",
            UpdatedAt = At.AddMinutes(3),
        };

        Store.Upsert(ipmi);

        var found = Assert.IsType<BmcRecord>(Store.Get("aaaaaaaaaaaa"));
        Assert.Equivalent(ipmi, found, strict: true);
        Assert.Null(found.SystemId);
        Assert.Null(found.Fingerprint);
        Assert.Null(found.BmcUuid);
        Assert.Null(found.PairingWarning);
    }

    [Fact]
    public void Upsert_TwoNodes_KeptApart()
    {
        var a = Redfish("aaaaaaaaaaaa");
        var b = Redfish("bbbbbbbbbbbb");
        b.Address = "https://10.0.0.11";

        Store.Upsert(a);
        Store.Upsert(b);

        Assert.Equal("https://10.0.0.9:8443", Store.Get("aaaaaaaaaaaa")!.Address);
        Assert.Equal("https://10.0.0.11", Store.Get("bbbbbbbbbbbb")!.Address);
    }

    [Fact]
    public void Reopen_RecordsSurviveARestart()
    {
        var record = Redfish("aaaaaaaaaaaa");
        Store.Upsert(record);

        Assert.Equivalent(record, Reopen().Get("aaaaaaaaaaaa"), strict: true);
    }
}

/// <summary>The contract against LiteDB, in a temporary directory.</summary>
public sealed class LiteDbBmcStoreTests : BmcStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-bmcs-").FullName;
    private readonly LiteKldloadDatabase _db;

    public LiteDbBmcStoreTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        Store = new LiteDbBmcStore(_db);
    }

    protected override IBmcStore Store { get; }

    protected override IBmcStore Reopen() => new LiteDbBmcStore(_db);

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Upsert_Document_KeepsTheFieldsTheTypeWrote()
    {
        Store.Upsert(Redfish("aaaaaaaaaaaa"));

        var doc = _db.Database.GetCollection("node_bmcs").FindById("aaaaaaaaaaaa");

        Assert.Equal(["_id", "Protocol", "Address", "Port", "User", "SealedPassword", "SystemId", "Fingerprint", "BmcUuid", "PairingWarning", "UpdatedAt"], doc.Keys.ToArray());
        Assert.Equal("Redfish", doc["Protocol"].AsString);
    }
}

/// <summary>The contract against PostgreSQL, in a fresh database of the test cluster.</summary>
public sealed class PostgresBmcStoreTests : BmcStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _connectionString;
    private readonly PostgresKldloadDatabase _db;
    private readonly List<PostgresKldloadDatabase> _reopened = [];

    public PostgresBmcStoreTests(PostgresFixture cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        _connectionString = cluster.CreateDatabase();
        _db = PostgresKldloadDatabase.Open(_connectionString);
        Store = new PostgresBmcStore(_db);
    }

    protected override IBmcStore Store { get; }

    /// <summary>A second database object on the same database, as another process would open it: its migrations are already there.</summary>
    protected override IBmcStore Reopen()
    {
        var db = PostgresKldloadDatabase.Open(_connectionString);
        _reopened.Add(db);
        return new PostgresBmcStore(db);
    }

    public void Dispose()
    {
        _reopened.ForEach(db => db.Dispose());
        _db.Dispose();
    }

    [Fact]
    public void Get_IsAPrimaryKeyLookup()
    {
        var plan = PostgresPlanCheck.Explain(_db, PostgresBmcStore.GetSql, ("node_id", "aaaaaaaaaaaa"));
        Assert.Contains("node_bmcs_pkey", plan, StringComparison.Ordinal);
    }

    [Fact]
    public void Upsert_StoresTheSealedPasswordAsGiven()
    {
        var record = Redfish("aaaaaaaaaaaa");
        Store.Upsert(record);

        using var command = _db.DataSource.CreateCommand("SELECT sealed_password FROM node_bmcs WHERE node_id = 'aaaaaaaaaaaa'");
        Assert.Equal(record.SealedPassword, command.ExecuteScalar());
    }
}
