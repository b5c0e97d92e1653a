using Kldload.Provisioner.Settings;
using Npgsql;

namespace Kldload.Provisioner.Storage;

/// <summary>
/// The tables one component owns, as numbered migrations: <c>Migrations[0]</c> is version 1, and so
/// on. A migration once released is never edited: a change is a new migration at the end.
/// </summary>
public sealed record PostgresSchema(string Component, IReadOnlyList<string> Migrations)
{
    /// <summary>The version this binary brings the component to.</summary>
    public int Version => Migrations.Count;
}

/// <summary>The database holds a schema this binary cannot use (newer than it knows, or a failed migration).</summary>
public sealed class StorageSchemaException : Exception
{
    public StorageSchemaException(string message)
        : base(message)
    {
    }

    public StorageSchemaException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public StorageSchemaException()
    {
    }
}

/// <summary>
/// A PostgreSQL database shared by one or more kldload instances, through Npgsql's pooled data source.
/// Each store brings its own tables with a <see cref="PostgresSchema"/> and calls <see cref="Migrate"/>
/// when it is built; applied versions are recorded per component in <c>kldload_schema</c>. Migrations
/// run under a transaction-scoped advisory lock, so instances starting together on an empty database
/// apply each migration once.
/// </summary>
public sealed class PostgresKldloadDatabase : IDatabaseHealth, IDisposable
{
    /// <summary>The advisory lock key every instance takes while it migrates ("kldload" in ASCII).</summary>
    private const long MigrationLock = 0x6b6c646c6f6164;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _migrated = new(StringComparer.Ordinal);

    private PostgresKldloadDatabase(NpgsqlDataSource dataSource, string description)
    {
        DataSource = dataSource;
        Description = description;
    }

    /// <summary>Pooled connections to the database.</summary>
    public NpgsqlDataSource DataSource { get; }

    /// <summary>Host, port and database name, for messages (never the password).</summary>
    public string Description { get; }

    /// <summary>
    /// Opens the data source and checks that a connection succeeds. Throws
    /// <see cref="SettingBindException"/> naming <paramref name="settingKey"/> with the server's reason.
    /// </summary>
    public static PostgresKldloadDatabase Open(string connectionString, string settingKey = "Database:ConnectionString")
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new SettingBindException(settingKey, "(hidden)", $"not a PostgreSQL connection string: {e.Message}", e);
        }

        var description = $"postgresql://{builder.Host}:{builder.Port}/{builder.Database}";
        builder.ApplicationName ??= "kldload";
        var dataSource = NpgsqlDataSource.Create(builder);
        try
        {
            using var connection = dataSource.OpenConnection();
            using var command = new NpgsqlCommand(
                "CREATE TABLE IF NOT EXISTS kldload_schema (component text PRIMARY KEY, version integer NOT NULL, applied timestamptz NOT NULL DEFAULT now())",
                connection);
            command.ExecuteNonQuery();
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            dataSource.Dispose();
            throw new SettingBindException(settingKey, description, $"cannot use the PostgreSQL database: {e.Message}", e);
        }

        return new PostgresKldloadDatabase(dataSource, description);
    }

    /// <summary>
    /// Brings <paramref name="schema"/>'s component to the version this binary knows: applies each
    /// missing migration in one transaction with its record. Throws <see cref="StorageSchemaException"/>
    /// when the database holds a newer version (written by a newer kldload: this binary would
    /// misread it), or when a migration fails.
    /// </summary>
    public void Migrate(PostgresSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        lock (_gate)
        {
            if (_migrated.TryGetValue(schema.Component, out var done) && done == schema.Version)
            {
                return;
            }
        }

        using var connection = DataSource.OpenConnection();
        using var transaction = connection.BeginTransaction();
        Execute(connection, transaction, "SELECT pg_advisory_xact_lock(@key)", ("key", MigrationLock));
        var current = CurrentVersion(connection, transaction, schema.Component);
        if (current > schema.Version)
        {
            throw new StorageSchemaException(
                $"the database {Description} holds version {current} of the '{schema.Component}' tables; this kldload knows versions up to {schema.Version}: run a kldload at least as new as the one that migrated it");
        }

        for (var version = current + 1; version <= schema.Version; version++)
        {
            try
            {
                Execute(connection, transaction, schema.Migrations[version - 1]);
            }
            catch (PostgresException e)
            {
                throw new StorageSchemaException($"migration {version} of the '{schema.Component}' tables failed on {Description}: {e.MessageText}", e);
            }
        }

        if (current < schema.Version)
        {
            Execute(connection, transaction,
                "INSERT INTO kldload_schema (component, version) VALUES (@component, @version) ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied = now()",
                ("component", schema.Component), ("version", schema.Version));
        }

        transaction.Commit();
        lock (_gate)
        {
            _migrated[schema.Component] = schema.Version;
        }
    }

    /// <summary>The recorded version of <paramref name="component"/> (0 when it has no tables yet).</summary>
    public int SchemaVersion(string component)
    {
        using var connection = DataSource.OpenConnection();
        return CurrentVersion(connection, null, component);
    }

    /// <summary>True when a trivial query succeeds: used by <c>/readyz</c>.</summary>
    public bool IsHealthy(out string? problem)
    {
        try
        {
            using var connection = DataSource.OpenConnection();
            using var command = new NpgsqlCommand("SELECT 1", connection);
            command.ExecuteScalar();
            problem = null;
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            problem = $"database {Description}: {e.Message}";
            return false;
        }
    }

    public void Dispose() => DataSource.Dispose();

    private static int CurrentVersion(NpgsqlConnection connection, NpgsqlTransaction? transaction, string component)
    {
        using var command = new NpgsqlCommand("SELECT version FROM kldload_schema WHERE component = @component", connection, transaction);
        command.Parameters.AddWithValue("component", component);
        return command.ExecuteScalar() is int version ? version : 0;
    }

    private static void Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        command.ExecuteNonQuery();
    }
}
