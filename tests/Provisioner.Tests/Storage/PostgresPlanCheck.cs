using Kldload.Provisioner.Storage;
using Npgsql;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// Asks PostgreSQL how it would run a store's query. Sequential scans are priced out first
/// (<c>enable_seqscan = off</c>): the test tables are tiny, and on a tiny table a scan is cheapest even
/// where an index applies; with scans priced out the planner still scans when no index can serve the
/// query, so a plan that names the index proves the index serves it.
/// </summary>
internal static class PostgresPlanCheck
{
    public static string Explain(PostgresKldloadDatabase db, string sql, params (string Name, object? Value)[] parameters)
    {
        ArgumentNullException.ThrowIfNull(db);
        using var connection = db.DataSource.OpenConnection();
        using (var off = new NpgsqlCommand("SET enable_seqscan = off", connection))
        {
            off.ExecuteNonQuery();
        }

        using var explain = new NpgsqlCommand("EXPLAIN " + sql, connection);
        foreach (var (name, value) in parameters)
        {
            explain.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        using var reader = explain.ExecuteReader();
        var lines = new List<string>();
        while (reader.Read())
        {
            lines.Add(reader.GetString(0));
        }

        return string.Join('\n', lines);
    }
}
