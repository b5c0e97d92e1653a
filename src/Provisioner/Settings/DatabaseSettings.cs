namespace Kldload.Provisioner.Settings;

/// <summary>Where kldload keeps its state: <c>Database:Provider</c>.</summary>
public enum DatabaseProvider
{
    /// <summary>The embedded LiteDB file <c>{Kldload:DataDir}/kldload.db</c> (the default: one binary, nothing to run beside it).</summary>
    LiteDb,

    /// <summary>A PostgreSQL database named by <c>Database:ConnectionString</c> or <c>Database:ConnectionStringFile</c>.</summary>
    PostgreSql,
}

/// <summary>The <c>Database</c> section.</summary>
public sealed record DatabaseSettings
{
    /// <summary><c>Database:Provider</c>: <c>LiteDb</c> (default) or <c>PostgreSql</c>.</summary>
    public DatabaseProvider Provider { get; init; } = DatabaseProvider.LiteDb;

    /// <summary>
    /// The PostgreSQL connection string (Npgsql's keyword form, <c>Host=...;Database=...;Username=...</c>),
    /// from <c>Database:ConnectionString</c> or read from <c>Database:ConnectionStringFile</c>. Null with LiteDB.
    /// </summary>
    public string? ConnectionString { get; init; }

    /// <summary>The setting the connection string came from, for error messages.</summary>
    public string ConnectionStringKey { get; init; } = "Database:ConnectionString";

    internal static DatabaseSettings Read(SettingsReader r)
    {
        var provider = r.Enum("Database:Provider", DatabaseProvider.LiteDb);
        var inline = r.OptionalString("Database:ConnectionString") is { Length: > 0 } s ? s : null;
        var file = r.OptionalString("Database:ConnectionStringFile") is { Length: > 0 } f ? Path.GetFullPath(f) : null;
        string? connectionString = null;
        var key = "Database:ConnectionString";

        if (inline is not null && file is not null)
        {
            r.AddError("Database:ConnectionStringFile", file, "set either Database:ConnectionString or Database:ConnectionStringFile, not both");
        }
        else if (file is not null)
        {
            key = "Database:ConnectionStringFile";
            connectionString = ReadFirstLine(file);
            if (connectionString is null)
            {
                r.AddError(key, file, "allowed: a readable file whose first line is the PostgreSQL connection string (Host=...;Database=...;Username=...)");
            }
        }
        else
        {
            connectionString = inline;
        }

        if (provider == DatabaseProvider.PostgreSql)
        {
            if (inline is null && file is null)
            {
                r.AddError("Database:ConnectionString", null, "required with Database:Provider=PostgreSql (or Database:ConnectionStringFile, to keep the password out of appsettings.json)");
            }
            else if (connectionString is not null && Problem(connectionString) is { } problem)
            {
                // The value may hold a password: never echo it.
                r.AddError(key, file, problem);
            }
        }
        else if (inline is not null || file is not null)
        {
            r.AddError(file is not null ? "Database:ConnectionStringFile" : "Database:ConnectionString", file,
                "only used with Database:Provider=PostgreSql; set the provider or remove the connection string");
        }

        return new DatabaseSettings
        {
            Provider = provider,
            ConnectionString = provider == DatabaseProvider.PostgreSql ? connectionString : null,
            ConnectionStringKey = key,
        };
    }

    private static string? Problem(string connectionString)
    {
        try
        {
            var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            return string.IsNullOrEmpty(builder.Host)
                ? "the connection string names no Host (Host=ADDRESS or a socket directory)"
                : string.IsNullOrEmpty(builder.Database)
                    ? "the connection string names no Database (Database=NAME)"
                    : null;
        }
        catch (ArgumentException e)
        {
            return $"not a PostgreSQL connection string ({e.Message.TrimEnd('.')}); allowed: Host=...;Port=...;Database=...;Username=...;Password=...";
        }
    }

    private static string? ReadFirstLine(string path)
    {
        try
        {
            using var reader = new StreamReader(path);
            var line = reader.ReadLine()?.Trim();
            return string.IsNullOrEmpty(line) ? null : line;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
