using Kldload.Provisioner.Storage;
using Npgsql;
using static Kldload.Provisioner.Storage.PostgresValues;

namespace Kldload.Provisioner.Power;

/// <summary>
/// BMC records in PostgreSQL, table <c>node_bmcs</c>, keyed by node id. The password column holds the
/// sealed form exactly as <see cref="BmcCredentialKey"/> made it; the key never reaches the database.
/// </summary>
public sealed class PostgresBmcStore : IBmcStore
{
    /// <summary>The table, as migrations of component <c>node_bmcs</c>.</summary>
    public static readonly PostgresSchema Schema = new("node_bmcs",
    [
        """
        CREATE TABLE node_bmcs (
            node_id text PRIMARY KEY,
            protocol text NOT NULL,
            address text NOT NULL,
            port integer NOT NULL,
            user_name text NOT NULL,
            sealed_password text NOT NULL,
            system_id text,
            fingerprint text,
            bmc_uuid text,
            pairing_warning text,
            updated_at timestamptz NOT NULL
        );
        """,
    ]);

    private const string Columns = "node_id, protocol, address, port, user_name, sealed_password, system_id, fingerprint, bmc_uuid, pairing_warning, updated_at";

    internal const string GetSql = $"SELECT {Columns} FROM node_bmcs WHERE node_id = @node_id";

    private readonly PostgresKldloadDatabase _data;

    public PostgresBmcStore(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(Schema);
        _data = database;
    }

    public BmcRecord? Get(string nodeId)
    {
        using var command = _data.CreateCommand(GetSql);
        command.Parameters.Add(Text("node_id", nodeId));
        using var r = command.ExecuteReader();
        return r.Read() ? Read(r) : null;
    }

    /// <summary>Every record, sealed passwords as stored: for <c>kldload db migrate</c>.</summary>
    public IReadOnlyList<BmcRecord> All()
    {
        using var command = _data.CreateCommand($"SELECT {Columns} FROM node_bmcs ORDER BY node_id");
        using var r = command.ExecuteReader();
        var records = new List<BmcRecord>();
        while (r.Read())
        {
            records.Add(Read(r));
        }

        return records;
    }

    private static BmcRecord Read(NpgsqlDataReader r) =>
        new()
        {
            Id = r.GetString(0),
            Protocol = Enum.Parse<BmcProtocol>(r.GetString(1)),
            Address = r.GetString(2),
            Port = r.GetInt32(3),
            User = r.GetString(4),
            SealedPassword = r.GetString(5),
            SystemId = r.IsDBNull(6) ? null : r.GetString(6),
            Fingerprint = r.IsDBNull(7) ? null : r.GetString(7),
            BmcUuid = r.IsDBNull(8) ? null : r.GetString(8),
            PairingWarning = r.IsDBNull(9) ? null : r.GetString(9),
            UpdatedAt = r.GetDateTime(10),
        };

    public void Upsert(BmcRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        using var command = _data.CreateCommand(
            $"""
            INSERT INTO node_bmcs ({Columns})
            VALUES (@node_id, @protocol, @address, @port, @user_name, @sealed_password, @system_id, @fingerprint, @bmc_uuid, @pairing_warning, @updated_at)
            ON CONFLICT (node_id) DO UPDATE SET protocol = excluded.protocol, address = excluded.address, port = excluded.port,
                user_name = excluded.user_name, sealed_password = excluded.sealed_password, system_id = excluded.system_id,
                fingerprint = excluded.fingerprint, bmc_uuid = excluded.bmc_uuid, pairing_warning = excluded.pairing_warning,
                updated_at = excluded.updated_at
            """);
        var p = command.Parameters;
        p.Add(Text("node_id", record.Id));
        p.Add(Text("protocol", record.Protocol.ToString()));
        p.Add(Text("address", record.Address));
        p.Add(Integer("port", record.Port));
        p.Add(Text("user_name", record.User));
        p.Add(Text("sealed_password", record.SealedPassword));
        p.Add(Text("system_id", record.SystemId));
        p.Add(Text("fingerprint", record.Fingerprint));
        p.Add(Text("bmc_uuid", record.BmcUuid));
        p.Add(Text("pairing_warning", record.PairingWarning));
        p.Add(Time("updated_at", record.UpdatedAt));
        command.ExecuteNonQuery();
    }
}
