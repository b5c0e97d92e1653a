using Kldload.Provisioner.Settings;
using LiteDB;

namespace Kldload.Provisioner.Storage;

/// <summary>
/// The embedded LiteDB database at <c>{Kldload:DataDir}/kldload.db</c>: opened once per process,
/// shared by every <c>LiteDb*</c> store, disposed (and so checkpointed) on shutdown. Components never
/// see it: they take their store interfaces, which <see cref="PostgresKldloadDatabase"/>'s stores
/// implement as well (<c>Database:Provider</c>).
/// </summary>
public interface IKldloadDatabase : IDatabaseHealth, IDisposable
{
    /// <summary>Full path of the database file.</summary>
    string Path { get; }

    /// <summary>The open database: for the <c>LiteDb*</c> stores and the LiteDB backup only.</summary>
    ILiteDatabase Database { get; }
}

/// <summary>The database in use, whichever the provider: <c>/readyz</c> asks it.</summary>
public interface IDatabaseHealth
{
    /// <summary>True when a trivial read succeeds.</summary>
    bool IsHealthy(out string? problem);
}

/// <summary>
/// A type stored in <c>kldload.db</c> through LiteDB's global mapper, with a public parameterless
/// constructor: <see cref="LiteKldloadDatabase.Open"/> maps each one once before any store uses it.
/// </summary>
public interface IKldloadDocument;

/// <summary>
/// A LiteDB store that maps its documents with <see cref="BsonMapper"/>'s fluent configuration (the
/// key, members left out) instead of attributes on domain types. <see cref="LiteKldloadDatabase.Open"/>
/// runs every <see cref="Configure"/> of the host once, before it maps any document, so that the
/// mapping in force is the same from the first read (a key mapped late would write <c>Name</c> where
/// the file has <c>_id</c>).
/// </summary>
public interface ILiteDbMapping
{
    /// <summary>Configures the mapper for this store's documents; idempotent.</summary>
    static abstract void Configure(BsonMapper mapper);
}

/// <summary>
/// LiteDB in direct connection mode: the engine and its page cache stay open for the life of the
/// process. Only the holder of the data directory's lock (<see cref="DataDirectoryLock"/>) opens the
/// file: <c>kldload serve</c>, or a CLI command while no server runs; the CLI asks a running server
/// instead. (Shared mode, which let both open it, reopened the file, took a lock and reread the
/// header and pages on every operation: about half of an attestation's server time.)
/// </summary>
public sealed class LiteKldloadDatabase : IKldloadDatabase
{
    private readonly LiteDatabase _db;

    private LiteKldloadDatabase(string path, LiteDatabase db)
    {
        Path = path;
        _db = db;
    }

    public string Path { get; }

    public ILiteDatabase Database => _db;

    /// <summary>
    /// LiteDB's global mapper builds a type's member map on first use and publishes it before it is
    /// complete, so two threads mapping one type for the first time can see "Member X not found".
    /// Every document type of the host (each declares itself with <see cref="IKldloadDocument"/>, so
    /// that this folder names none of the folders above it) is mapped once, under this lazy, before
    /// any store exists, after the fluent configuration of every <see cref="ILiteDbMapping"/>.
    /// </summary>
    private static readonly Lazy<bool> MappersWarm = new(() =>
    {
        var mapper = BsonMapper.Global;
        var mappings = typeof(LiteKldloadDatabase).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ILiteDbMapping).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal);
        foreach (var type in mappings)
        {
            type.GetMethod(nameof(ILiteDbMapping.Configure), System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static, [typeof(BsonMapper)])!.Invoke(null, [mapper]);
        }

        var documents = typeof(LiteKldloadDatabase).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IKldloadDocument).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal);
        foreach (var type in documents)
        {
            mapper.ToDocument(type, Activator.CreateInstance(type));
        }

        return true;
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Opens (creating if missing) the database file. Throws <see cref="SettingBindException"/> with a clear reason.</summary>
    public static LiteKldloadDatabase Open(string path)
    {
        _ = MappersWarm.Value;
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            var db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct });
            // Times are stored and read back as UTC (a pragma kept in the file); touching the file now
            // makes a damaged or unreadable database fail here, not on first use.
            if (!db.UtcDate)
            {
                db.UtcDate = true;
            }
            return new LiteKldloadDatabase(path, db);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LiteException)
        {
            throw new SettingBindException("Kldload:DataDir", System.IO.Path.GetDirectoryName(path)!, $"cannot open the database {path}: {e.Message}", e);
        }
    }

    public bool IsHealthy(out string? problem)
    {
        try
        {
            _ = _db.UserVersion;
            problem = null;
            return true;
        }
        catch (Exception e)
        {
            problem = $"database {Path}: {e.Message}";
            return false;
        }
    }

    public void Dispose() => _db.Dispose();
}
