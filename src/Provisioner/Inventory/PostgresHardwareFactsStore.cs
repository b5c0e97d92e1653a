using Kldload.Provisioner.Storage;
using Npgsql;
using static Kldload.Provisioner.Storage.PostgresValues;

namespace Kldload.Provisioner.Inventory;

/// <summary>
/// The facts history in PostgreSQL (table <c>node_facts</c>): a row per attested boot, numbered by an
/// identity column, read by the index on (node, number). Facts are <c>text</c>, not <c>jsonb</c>: they
/// are RFC 8785 canonical JSON whose exact bytes a quote bound, and <c>jsonb</c> would reorder them.
/// Commands join the database's ambient transaction (<see cref="PostgresAmbientTransaction"/>).
/// </summary>
public sealed class PostgresHardwareFactsStore : IHardwareFactsStore
{
    /// <summary>The table, as migrations of component <c>node_facts</c>.</summary>
    public static readonly PostgresSchema Schema = new("node_facts",
    [
        """
        CREATE TABLE node_facts (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            node_id text NOT NULL,
            at timestamptz NOT NULL,
            session_id text NOT NULL,
            bound boolean NOT NULL,
            facts text NOT NULL
        );
        CREATE INDEX node_facts_node ON node_facts (node_id, id);
        """,
    ]);

    private const string Columns = "id, node_id, at, session_id, bound, facts";

    private readonly PostgresKldloadDatabase _db;

    public PostgresHardwareFactsStore(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(Schema);
        _db = database;
    }

    public HardwareFactsRecord Append(HardwareFactsRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        using var command = _db.CreateCommand(
            "INSERT INTO node_facts (node_id, at, session_id, bound, facts) VALUES (@node_id, @at, @session_id, @bound, @facts) RETURNING id");
        command.Parameters.Add(Text("node_id", record.NodeId));
        command.Parameters.Add(Time("at", record.At));
        command.Parameters.Add(Text("session_id", record.SessionId));
        command.Parameters.Add(Boolean("bound", record.Bound));
        command.Parameters.Add(Text("facts", record.Facts));
        record.Id = (long)command.ExecuteScalar()!;
        return record;
    }

    public IReadOnlyList<HardwareFactsRecord> History(string nodeId, int limit)
    {
        using var command = _db.CreateCommand($"SELECT {Columns} FROM node_facts WHERE node_id = @node_id ORDER BY id DESC LIMIT @limit");
        command.Parameters.Add(Text("node_id", nodeId));
        command.Parameters.Add(Integer("limit", Math.Max(0, limit)));
        return Read(command);
    }

    public HardwareFactsRecord? LastBound(string nodeId)
    {
        using var command = _db.CreateCommand($"SELECT {Columns} FROM node_facts WHERE node_id = @node_id AND bound ORDER BY id DESC LIMIT 1");
        command.Parameters.Add(Text("node_id", nodeId));
        return Read(command).SingleOrDefault();
    }

    private static List<HardwareFactsRecord> Read(NpgsqlCommand command)
    {
        using var r = command.ExecuteReader();
        var records = new List<HardwareFactsRecord>();
        while (r.Read())
        {
            records.Add(new HardwareFactsRecord
            {
                Id = r.GetInt64(0),
                NodeId = r.GetString(1),
                At = r.UtcTime(2),
                SessionId = r.GetString(3),
                Bound = r.GetBoolean(4),
                Facts = r.GetString(5),
            });
        }

        return records;
    }

    /// <summary>Every record, in id order: for <c>kldload db migrate</c>.</summary>
    public IReadOnlyList<HardwareFactsRecord> All()
    {
        using var command = _db.CreateCommand($"SELECT {Columns} FROM node_facts ORDER BY id");
        return Read(command);
    }

    /// <summary>
    /// Writes records keeping their ids (<c>kldload db migrate</c>), then moves the id sequence past
    /// them, so the next <see cref="Append"/> continues after the copied history.
    /// </summary>
    public void Import(IEnumerable<HardwareFactsRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        foreach (var record in records)
        {
            using var command = _db.CreateCommand(
                "INSERT INTO node_facts (id, node_id, at, session_id, bound, facts) OVERRIDING SYSTEM VALUE VALUES (@id, @node_id, @at, @session_id, @bound, @facts)");
            command.Parameters.Add(Bigint("id", record.Id));
            command.Parameters.Add(Text("node_id", record.NodeId));
            command.Parameters.Add(Time("at", record.At));
            command.Parameters.Add(Text("session_id", record.SessionId));
            command.Parameters.Add(Boolean("bound", record.Bound));
            command.Parameters.Add(Text("facts", record.Facts));
            command.ExecuteNonQuery();
        }

        using var sequence = _db.CreateCommand("SELECT setval(pg_get_serial_sequence('node_facts', 'id'), COALESCE((SELECT max(id) FROM node_facts), 0) + 1, false)");
        sequence.ExecuteScalar();
    }
}
