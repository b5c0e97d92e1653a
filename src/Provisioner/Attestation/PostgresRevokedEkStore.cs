using Kldload.Provisioner.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Attestation;

/// <summary>Revoked EKs in PostgreSQL, table <c>revoked_eks</c>, keyed by EK fingerprint.</summary>
public sealed class PostgresRevokedEkStore : IRevokedEkStore
{
    /// <summary>The table, as migrations of component <c>revoked_eks</c>.</summary>
    public static readonly PostgresSchema Schema = new("revoked_eks",
    [
        """
        CREATE TABLE revoked_eks (
            fingerprint text PRIMARY KEY,
            node_id text NOT NULL,
            why text NOT NULL,
            revoked_at timestamptz NOT NULL
        );
        """,
    ]);

    /// <summary>The lookup at every quote and activate: by primary key.</summary>
    internal const string IsRevokedSql = "SELECT why FROM revoked_eks WHERE fingerprint = @fingerprint";

    private readonly PostgresKldloadDatabase _data;

    public PostgresRevokedEkStore(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(Schema);
        _data = database;
    }

    public void Revoke(string fingerprint, string nodeId, string why, DateTime at)
    {
        using var command = _data.CreateCommand(
            """
            INSERT INTO revoked_eks (fingerprint, node_id, why, revoked_at) VALUES (@fingerprint, @node_id, @why, @at)
            ON CONFLICT (fingerprint) DO UPDATE SET node_id = excluded.node_id, why = excluded.why, revoked_at = excluded.revoked_at
            """);
        command.Parameters.Add(new NpgsqlParameter("fingerprint", NpgsqlDbType.Text) { Value = fingerprint });
        command.Parameters.Add(new NpgsqlParameter("node_id", NpgsqlDbType.Text) { Value = nodeId });
        command.Parameters.Add(new NpgsqlParameter("why", NpgsqlDbType.Text) { Value = why });
        command.Parameters.Add(new NpgsqlParameter("at", NpgsqlDbType.TimestampTz) { Value = at.Kind == DateTimeKind.Utc ? at : at.ToUniversalTime() });
        command.ExecuteNonQuery();
    }

    public bool IsRevoked(string fingerprint, out string? why)
    {
        using var command = _data.CreateCommand(IsRevokedSql);
        command.Parameters.Add(new NpgsqlParameter("fingerprint", NpgsqlDbType.Text) { Value = fingerprint });
        why = command.ExecuteScalar() as string;
        return why is not null;
    }

    /// <summary>Every revocation: for <c>kldload db migrate</c>.</summary>
    public IReadOnlyList<RevokedEk> All()
    {
        using var command = _data.CreateCommand("SELECT fingerprint, node_id, why, revoked_at FROM revoked_eks ORDER BY fingerprint");
        using var r = command.ExecuteReader();
        var revoked = new List<RevokedEk>();
        while (r.Read())
        {
            revoked.Add(new RevokedEk(r.GetString(0), r.GetString(1), r.GetString(2), DateTime.SpecifyKind(r.GetDateTime(3), DateTimeKind.Utc)));
        }

        return revoked;
    }
}
