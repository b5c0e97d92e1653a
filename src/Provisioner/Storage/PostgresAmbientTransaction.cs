using Npgsql;

namespace Kldload.Provisioner.Storage;

/// <summary>
/// One transaction shared by every PostgreSQL store of a database, the counterpart of LiteDB's
/// per-thread transaction: while <see cref="InTransaction"/> runs its work, each command a store makes
/// with <see cref="CreateCommand"/> on the same database goes on that transaction's connection, so the
/// work's writes (nodes, events, boot tokens, facts, sessions) commit together or not at all. Outside
/// one, a command takes a pooled connection for itself and commits on its own.
/// </summary>
/// <remarks>
/// The transaction follows the flow of execution (<see cref="AsyncLocal{T}"/>), not the thread; the
/// work must not run commands of it concurrently (one connection runs one command at a time).
/// </remarks>
public static class PostgresAmbientTransaction
{
    private static readonly AsyncLocal<Ambient?> Current = new();

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction of <paramref name="database"/>: committed when it
    /// returns, rolled back when it throws. Inside a transaction of the same database, it joins it.
    /// </summary>
    public static T InTransaction<T>(this PostgresKldloadDatabase database, Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(work);
        var outer = Current.Value;
        if (outer is not null && ReferenceEquals(outer.Database, database))
        {
            return work();
        }

        using var connection = database.DataSource.OpenConnection();
        using var transaction = connection.BeginTransaction();
        Current.Value = new Ambient(database, connection, transaction);
        try
        {
            var result = work();
            transaction.Commit();
            return result;
        }
        finally
        {
            // Disposing an uncommitted transaction rolls it back.
            Current.Value = outer;
        }
    }

    /// <summary>
    /// A command on <paramref name="database"/>: on the connection of the transaction in progress when
    /// there is one, else on a pooled connection the command opens and closes itself.
    /// </summary>
    public static NpgsqlCommand CreateCommand(this PostgresKldloadDatabase database, string sql)
    {
        ArgumentNullException.ThrowIfNull(database);
        return Current.Value is { } ambient && ReferenceEquals(ambient.Database, database)
            ? new NpgsqlCommand(sql, ambient.Connection, ambient.Transaction)
            : database.DataSource.CreateCommand(sql);
    }

    /// <summary>True while a transaction of <paramref name="database"/> is in progress on this flow.</summary>
    public static bool InTransactionNow(this PostgresKldloadDatabase database) =>
        Current.Value is { } ambient && ReferenceEquals(ambient.Database, database);

    private sealed record Ambient(PostgresKldloadDatabase Database, NpgsqlConnection Connection, NpgsqlTransaction Transaction);
}
