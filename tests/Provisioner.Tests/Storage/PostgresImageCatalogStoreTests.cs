using Kldload.ImageStore;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>The contract on PostgreSQL (a fresh database per test), and what only a shared database can show: two instances.</summary>
public sealed class PostgresImageCatalogStoreTests : ImageCatalogStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _connectionString;
    private readonly PostgresKldloadDatabase _db;

    public PostgresImageCatalogStoreTests(PostgresFixture cluster)
    {
        _connectionString = cluster.CreateDatabase();
        _db = PostgresKldloadDatabase.Open(_connectionString);
        Store = new PostgresImageCatalogStore(_db);
    }

    protected override IImageCatalogStore Store { get; }

    [Fact]
    public void TwoInstances_ConcurrentPromotions_EachSeesTheOtherAndNoneIsLost()
    {
        using var otherDb = PostgresKldloadDatabase.Open(_connectionString);
        var other = new PostgresImageCatalogStore(otherDb);
        var versions = Enumerable.Range(1, 6).Select(i => Manifest("live", i.ToString(System.Globalization.CultureInfo.InvariantCulture), T0)).ToList();
        var a = new ImageCatalog(Store, TimeProvider.System);
        var b = new ImageCatalog(other, TimeProvider.System);
        a.Add(versions, "a", "test");
        Assert.Equal(versions, b.List());

        Parallel.For(0, versions.Count, new ParallelOptions { MaxDegreeOfParallelism = versions.Count }, i => (i % 2 == 0 ? a : b).Promote("stable", versions[i].Key, "ci"));

        // Whatever order they ran in, the promotions form one chain: each moved from the one before.
        var history = b.GetChannelHistory("stable");
        Assert.Equal(versions.Count, history.Count);
        Assert.Null(history[0].From);
        for (var i = 1; i < history.Count; i++)
        {
            Assert.Equal(history[i - 1].To, history[i].From);
        }

        var channel = a.GetChannel("stable")!;
        Assert.Equal(history[^1].To, channel.Current);
        Assert.Equal(history.Take(history.Count - 1).Select(h => h.To).Reverse().ToList(), channel.Previous);
    }

    [Fact]
    public void Open_Twice_MigratesOnceAndKeepsTheRecords()
    {
        var m = Manifest("live", "1", T0);
        Store.Change(tx => { tx.InsertManifest(m); return 0; });

        using var again = PostgresKldloadDatabase.Open(_connectionString);
        var reopened = new PostgresImageCatalogStore(again);

        Assert.Equal([m], reopened.ListManifests());
    }

    public void Dispose() => _db.Dispose();
}
