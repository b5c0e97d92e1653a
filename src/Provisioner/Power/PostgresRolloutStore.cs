using System.Text.Json;
using System.Text.Json.Serialization;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Storage;
using Npgsql;
using NpgsqlTypes;
using static Kldload.Provisioner.Storage.PostgresValues;

namespace Kldload.Provisioner.Power;

/// <summary>
/// Rollouts in PostgreSQL, table <c>rollouts</c>, keyed by id. Each row is written whole; its nodes and
/// skips, only ever read with it, are <c>jsonb</c>. The running and paused rollouts, asked for on every
/// tick of <see cref="RolloutRunner"/>, come from a partial index over them.
/// </summary>
public sealed class PostgresRolloutStore : IRolloutStore
{
    /// <summary>The table, as migrations of component <c>rollouts</c>.</summary>
    public static readonly PostgresSchema Schema = new("rollouts",
    [
        """
        CREATE TABLE rollouts (
            id text PRIMARY KEY,
            channel text NOT NULL,
            action text NOT NULL,
            target_name text NOT NULL,
            target_version text NOT NULL,
            previous_name text,
            previous_version text,
            max_unavailable integer NOT NULL,
            pause_on_failure boolean NOT NULL,
            auto_rollback boolean NOT NULL,
            node_timeout_seconds double precision NOT NULL,
            state text NOT NULL,
            reason text,
            stop_reason text,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            finished_at timestamptz,
            nodes jsonb NOT NULL,
            skipped jsonb NOT NULL,
            CHECK ((previous_name IS NULL) = (previous_version IS NULL))
        );
        CREATE INDEX rollouts_created_at ON rollouts (created_at);
        CREATE INDEX rollouts_active ON rollouts (created_at) WHERE state IN ('Running', 'Paused');
        """,
    ]);

    private const string Columns =
        "id, channel, action, target_name, target_version, previous_name, previous_version, max_unavailable, pause_on_failure, "
        + "auto_rollback, node_timeout_seconds, state, reason, stop_reason, created_by, created_at, updated_at, finished_at, nodes, skipped";

    internal const string GetSql = $"SELECT {Columns} FROM rollouts WHERE id = @id";

    /// <summary>The state list repeats the partial index's predicate word for word, so the planner can use it.</summary>
    internal const string ActiveSql = $"SELECT {Columns} FROM rollouts WHERE state IN ('Running', 'Paused') ORDER BY created_at";

    private readonly PostgresKldloadDatabase _data;

    public PostgresRolloutStore(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(Schema);
        _data = database;
    }

    public RolloutRecord? Get(string id)
    {
        using var command = _data.CreateCommand(GetSql);
        command.Parameters.Add(Text("id", id));
        return ReadAll(command).FirstOrDefault();
    }

    public IReadOnlyList<RolloutRecord> List()
    {
        using var command = _data.CreateCommand($"SELECT {Columns} FROM rollouts ORDER BY created_at DESC");
        return ReadAll(command);
    }

    public IReadOnlyList<RolloutRecord> Active()
    {
        using var command = _data.CreateCommand(ActiveSql);
        return ReadAll(command);
    }

    public void Upsert(RolloutRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        using var command = _data.CreateCommand(
            $"""
            INSERT INTO rollouts ({Columns})
            VALUES (@id, @channel, @action, @target_name, @target_version, @previous_name, @previous_version, @max_unavailable,
                @pause_on_failure, @auto_rollback, @node_timeout_seconds, @state, @reason, @stop_reason, @created_by, @created_at,
                @updated_at, @finished_at, @nodes, @skipped)
            ON CONFLICT (id) DO UPDATE SET channel = excluded.channel, action = excluded.action, target_name = excluded.target_name,
                target_version = excluded.target_version, previous_name = excluded.previous_name, previous_version = excluded.previous_version,
                max_unavailable = excluded.max_unavailable, pause_on_failure = excluded.pause_on_failure, auto_rollback = excluded.auto_rollback,
                node_timeout_seconds = excluded.node_timeout_seconds, state = excluded.state, reason = excluded.reason,
                stop_reason = excluded.stop_reason, created_by = excluded.created_by, created_at = excluded.created_at,
                updated_at = excluded.updated_at, finished_at = excluded.finished_at, nodes = excluded.nodes, skipped = excluded.skipped
            """);
        var p = command.Parameters;
        p.Add(Text("id", record.Id));
        p.Add(Text("channel", record.Channel));
        p.Add(Text("action", record.Action));
        p.Add(Text("target_name", record.Target.Name));
        p.Add(Text("target_version", record.Target.Version));
        p.Add(Text("previous_name", record.Previous?.Name));
        p.Add(Text("previous_version", record.Previous?.Version));
        p.Add(Integer("max_unavailable", record.MaxUnavailable));
        p.Add(Boolean("pause_on_failure", record.PauseOnFailure));
        p.Add(Boolean("auto_rollback", record.AutoRollback));
        p.Add(Double("node_timeout_seconds", record.NodeTimeoutSeconds));
        p.Add(Text("state", record.State.ToString()));
        p.Add(Text("reason", record.Reason));
        p.Add(Text("stop_reason", record.StopReason));
        p.Add(Text("created_by", record.By));
        p.Add(Time("created_at", record.CreatedAt));
        p.Add(Time("updated_at", record.UpdatedAt));
        p.Add(Time("finished_at", record.FinishedAt));
        p.Add(new NpgsqlParameter("nodes", NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(record.Nodes, RolloutJson.Default.ListRolloutNode) });
        p.Add(new NpgsqlParameter("skipped", NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(record.Skipped, RolloutJson.Default.ListRolloutSkip) });
        command.ExecuteNonQuery();
    }

    private static List<RolloutRecord> ReadAll(NpgsqlCommand command)
    {
        var records = new List<RolloutRecord>();
        using var r = command.ExecuteReader();
        while (r.Read())
        {
            records.Add(new RolloutRecord
            {
                Id = r.GetString(0),
                Channel = r.GetString(1),
                Action = r.GetString(2),
                Target = new ImageRef { Name = r.GetString(3), Version = r.GetString(4) },
                Previous = r.IsDBNull(5) ? null : new ImageRef { Name = r.GetString(5), Version = r.GetString(6) },
                MaxUnavailable = r.GetInt32(7),
                PauseOnFailure = r.GetBoolean(8),
                AutoRollback = r.GetBoolean(9),
                NodeTimeoutSeconds = r.GetDouble(10),
                State = Enum.Parse<RolloutState>(r.GetString(11)),
                Reason = r.IsDBNull(12) ? null : r.GetString(12),
                StopReason = r.IsDBNull(13) ? null : r.GetString(13),
                By = r.GetString(14),
                CreatedAt = r.GetDateTime(15),
                UpdatedAt = r.GetDateTime(16),
                FinishedAt = r.IsDBNull(17) ? null : r.GetDateTime(17),
                Nodes = JsonSerializer.Deserialize(r.GetString(18), RolloutJson.Default.ListRolloutNode) ?? [],
                Skipped = JsonSerializer.Deserialize(r.GetString(19), RolloutJson.Default.ListRolloutSkip) ?? [],
            });
        }

        return records;
    }

}

/// <summary>
/// The JSON of a rollout's nodes and skips, generated at build time: enums by name, times as UTC
/// (ISO 8601 with <c>Z</c>), whatever kind the caller's <see cref="DateTime"/> had.
/// </summary>
[JsonSourceGenerationOptions(UseStringEnumConverter = true, Converters = [typeof(UtcDateTimeJsonConverter)])]
[JsonSerializable(typeof(List<RolloutNode>))]
[JsonSerializable(typeof(List<RolloutSkip>))]
internal sealed partial class RolloutJson : JsonSerializerContext;

/// <summary>Writes and reads times as UTC.</summary>
internal sealed class UtcDateTimeJsonConverter : JsonConverter<DateTime>
{
    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetDateTime() is var t && t.Kind == DateTimeKind.Utc ? t : t.ToUniversalTime();

    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Kind == DateTimeKind.Utc ? value : value.ToUniversalTime());
}
