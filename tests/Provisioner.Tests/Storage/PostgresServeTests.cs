using Npgsql;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary><c>kldload serve</c> on PostgreSQL refuses a database it cannot use, at start, with exit 2 and the reason.</summary>
public sealed class PostgresServeTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-pgserve-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<(int ExitCode, string Stdout, string Stderr)> ServeAsync(string connectionString) =>
        KldloadProcess.RunAsync(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={Path.Combine(_dir, "var")}", "--Tftp:Enabled=false",
            "--Database:Provider=PostgreSql", $"--Database:ConnectionString={connectionString}");

    [Fact]
    public async Task Serve_NoServerThere_ExitsTwoNamingTheSetting()
    {
        var unreachable = new NpgsqlConnectionStringBuilder(postgres.CreateDatabase()) { Port = 1, Timeout = 3 }.ConnectionString;
        var (code, _, stderr) = await ServeAsync(unreachable);
        Assert.Equal(2, code);
        Assert.Contains("Database:ConnectionString = 'postgresql://127.0.0.1:1/", stderr, StringComparison.Ordinal);
        Assert.Contains("cannot use the PostgreSQL database", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_DatabaseMigratedByANewerKldload_ExitsTwoAndChangesNothing()
    {
        var connectionString = postgres.CreateDatabase();
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "CREATE TABLE kldload_schema (component text PRIMARY KEY, version integer NOT NULL, applied timestamptz NOT NULL DEFAULT now()); INSERT INTO kldload_schema VALUES ('inventory', 99, now())",
                connection);
            await command.ExecuteNonQueryAsync();
        }

        var (code, _, stderr) = await ServeAsync(connectionString);
        Assert.Equal(2, code);
        Assert.Contains("holds version 99 of the 'inventory' tables", stderr, StringComparison.Ordinal);

        await using var check = new NpgsqlConnection(connectionString);
        await check.OpenAsync();
        await using var tables = new NpgsqlCommand("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'kldload_schema'", check);
        Assert.Equal(0L, await tables.ExecuteScalarAsync());
    }
}
