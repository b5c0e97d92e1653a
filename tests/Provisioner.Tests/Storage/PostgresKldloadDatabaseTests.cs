using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;
using Npgsql;

namespace Kldload.Provisioner.Tests.Storage;

public sealed class PostgresKldloadDatabaseTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private static readonly PostgresSchema Widgets = new("widgets",
    [
        "CREATE TABLE widgets (id text PRIMARY KEY)",
        "ALTER TABLE widgets ADD COLUMN size integer NOT NULL DEFAULT 0",
    ]);

    [Fact]
    public void Migrate_EmptyDatabase_AppliesEveryVersionOnceAndRecordsIt()
    {
        var connectionString = postgres.CreateDatabase();
        using (var db = PostgresKldloadDatabase.Open(connectionString))
        {
            db.Migrate(Widgets);
            db.Migrate(Widgets);
            Assert.Equal(2, db.SchemaVersion("widgets"));
            Assert.Equal(0, db.SchemaVersion("gadgets"));
            Execute(db, "INSERT INTO widgets (id, size) VALUES ('a', 3)");
        }

        // A second instance (a restart, or another provisioner) finds the tables and keeps the rows.
        using var again = PostgresKldloadDatabase.Open(connectionString);
        again.Migrate(Widgets);
        Assert.Equal(3L, Scalar(again, "SELECT sum(size) FROM widgets"));
    }

    [Fact]
    public void Migrate_OlderBinaryThanTheDatabase_IsRefusedNamingBothVersions()
    {
        using var db = PostgresKldloadDatabase.Open(postgres.CreateDatabase());
        db.Migrate(Widgets);
        var older = Widgets with { Migrations = Widgets.Migrations.Take(1).ToList() };
        using var other = PostgresKldloadDatabase.Open(db.DataSource.ConnectionString);
        var e = Assert.Throws<StorageSchemaException>(() => other.Migrate(older));
        Assert.Contains("version 2 of the 'widgets' tables", e.Message, StringComparison.Ordinal);
        Assert.Contains("versions up to 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Migrate_FailingMigration_AppliesNothingOfThatRun()
    {
        using var db = PostgresKldloadDatabase.Open(postgres.CreateDatabase());
        var broken = new PostgresSchema("broken", ["CREATE TABLE broken_a (id text PRIMARY KEY)", "ALTER TABLE no_such_table ADD COLUMN x integer"]);
        var e = Assert.Throws<StorageSchemaException>(() => db.Migrate(broken));
        Assert.Contains("migration 2 of the 'broken' tables failed", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, db.SchemaVersion("broken"));
        Assert.Equal(0L, Scalar(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'broken_a'"));
    }

    [Fact]
    public async Task Migrate_InstancesStartingTogether_CreateTheTablesOnce()
    {
        var connectionString = postgres.CreateDatabase();
        var instances = Enumerable.Range(0, 6).Select(_ => PostgresKldloadDatabase.Open(connectionString)).ToList();
        try
        {
            // Without the lock, two would both see version 0 and the second CREATE TABLE would fail.
            using var start = new Barrier(instances.Count);
            await Task.WhenAll(instances.Select(db => Task.Run(() =>
            {
                start.SignalAndWait();
                db.Migrate(Widgets);
            })));
            Assert.All(instances, db => Assert.Equal(2, db.SchemaVersion("widgets")));
        }
        finally
        {
            instances.ForEach(db => db.Dispose());
        }
    }

    [Fact]
    public void Open_NothingListening_NamesTheSettingAndTheServer()
    {
        var unused = new NpgsqlConnectionStringBuilder(postgres.CreateDatabase()) { Port = 1, Timeout = 3 };
        var e = Assert.Throws<SettingBindException>(() => PostgresKldloadDatabase.Open(unused.ConnectionString, "Database:ConnectionStringFile"));
        Assert.Equal("Database:ConnectionStringFile", e.Key);
        Assert.Contains("postgresql://127.0.0.1:1/", e.Message, StringComparison.Ordinal);
        Assert.Contains("cannot use the PostgreSQL database", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_MissingDatabase_SaysSoAndIsHealthyIsTrueForAGoodOne()
    {
        var missing = new NpgsqlConnectionStringBuilder(postgres.CreateDatabase()) { Database = "no_such_database" };
        var e = Assert.Throws<SettingBindException>(() => PostgresKldloadDatabase.Open(missing.ConnectionString));
        Assert.Contains("no_such_database", e.Message, StringComparison.Ordinal);

        using var db = PostgresKldloadDatabase.Open(postgres.CreateDatabase());
        Assert.True(db.IsHealthy(out var problem), problem);
    }

    private static void Execute(PostgresKldloadDatabase db, string sql)
    {
        using var command = db.DataSource.CreateCommand(sql);
        command.ExecuteNonQuery();
    }

    private static object? Scalar(PostgresKldloadDatabase db, string sql)
    {
        using var command = db.DataSource.CreateCommand(sql);
        return command.ExecuteScalar();
    }
}
