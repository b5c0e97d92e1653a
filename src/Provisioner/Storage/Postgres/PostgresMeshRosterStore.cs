using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Kldload.MeshCA.Distribution;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// <see cref="IMeshRosterStore"/> in PostgreSQL tables <c>mesh_members</c> (by node id),
/// <c>mesh_revoked</c> (by public key), <c>mesh_hubs</c> (by instance id) and <c>mesh_settings</c> (the
/// epoch, as decimal text; <see cref="NextEpoch"/> advances it in one statement), from
/// <see cref="PostgresMeshSchema"/>. A member's labels are one <c>jsonb</c> object, only ever read whole.
/// </summary>
public sealed class PostgresMeshRosterStore : IMeshRosterStore
{
    private const string EpochSetting = "epoch";

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Uses <paramref name="database"/>'s pool; creates or migrates the mesh tables.</summary>
    public PostgresMeshRosterStore(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(PostgresMeshSchema.Schema);
        _dataSource = database.DataSource;
    }

    public ulong GetEpoch()
    {
        using var command = _dataSource.CreateCommand("SELECT value FROM mesh_settings WHERE name = @name");
        command.Parameters.AddWithValue("name", EpochSetting);
        return command.ExecuteScalar() is string value ? ulong.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture) : 0;
    }

    public void SetEpoch(ulong epoch)
    {
        using var command = _dataSource.CreateCommand(
            "INSERT INTO mesh_settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO UPDATE SET value = excluded.value");
        command.Parameters.AddWithValue("name", EpochSetting);
        command.Parameters.AddWithValue("value", epoch.ToString(CultureInfo.InvariantCulture));
        command.ExecuteNonQuery();
    }

    public ulong NextEpoch(ulong current)
    {
        // One statement: two provisioners advancing together get two different epochs.
        using var command = _dataSource.CreateCommand(
            "INSERT INTO mesh_settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO UPDATE "
            + "SET value = (GREATEST(mesh_settings.value::numeric + 1, excluded.value::numeric))::text RETURNING value");
        command.Parameters.AddWithValue("name", EpochSetting);
        command.Parameters.AddWithValue("value", (current + 1).ToString(CultureInfo.InvariantCulture));
        return ulong.Parse((string)command.ExecuteScalar()!, NumberStyles.None, CultureInfo.InvariantCulture);
    }

    public IReadOnlyList<MeshMember> Members()
    {
        using var command = _dataSource.CreateCommand(
            "SELECT node_id, public_key, key_epoch, address6, address4, endpoint, labels::text, hub FROM mesh_members ORDER BY node_id");
        using var reader = command.ExecuteReader();
        var members = new List<MeshMember>();
        while (reader.Read())
        {
            members.Add(new MeshMember
            {
                NodeId = reader.GetString(0),
                PublicKey = reader.GetFieldValue<byte[]>(1),
                KeyEpoch = (uint)reader.GetInt64(2),
                Address6 = reader.GetFieldValue<IPAddress>(3),
                Address4 = reader.IsDBNull(4) ? null : reader.GetFieldValue<IPAddress>(4),
                Endpoint = reader.IsDBNull(5) ? null : reader.GetString(5),
                Labels = ReadLabels(reader.GetString(6)),
                Hub = reader.IsDBNull(7) ? null : reader.GetString(7),
            });
        }

        return members;
    }

    public void SaveMember(MeshMember member)
    {
        ArgumentNullException.ThrowIfNull(member);
        using var command = _dataSource.CreateCommand(
            "INSERT INTO mesh_members (node_id, public_key, key_epoch, address6, address4, endpoint, labels, hub) "
            + "VALUES (@node_id, @public_key, @key_epoch, @address6, @address4, @endpoint, @labels, @hub) "
            + "ON CONFLICT (node_id) DO UPDATE SET public_key = excluded.public_key, key_epoch = excluded.key_epoch, "
            + "address6 = excluded.address6, address4 = excluded.address4, endpoint = excluded.endpoint, labels = excluded.labels, hub = excluded.hub");
        command.Parameters.Add(new NpgsqlParameter("node_id", NpgsqlDbType.Text) { Value = member.NodeId });
        command.Parameters.Add(new NpgsqlParameter("public_key", NpgsqlDbType.Bytea) { Value = member.PublicKey });
        command.Parameters.Add(new NpgsqlParameter("key_epoch", NpgsqlDbType.Bigint) { Value = (long)member.KeyEpoch });
        command.Parameters.Add(new NpgsqlParameter("address6", NpgsqlDbType.Inet) { Value = member.Address6 });
        command.Parameters.Add(new NpgsqlParameter("address4", NpgsqlDbType.Inet) { Value = (object?)member.Address4 ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("endpoint", NpgsqlDbType.Text) { Value = (object?)member.Endpoint ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("labels", NpgsqlDbType.Jsonb) { Value = WriteLabels(member.Labels) });
        command.Parameters.Add(new NpgsqlParameter("hub", NpgsqlDbType.Text) { Value = (object?)member.Hub ?? DBNull.Value });
        command.ExecuteNonQuery();
    }

    public void DeleteMember(string nodeId)
    {
        ArgumentNullException.ThrowIfNull(nodeId);
        using var command = _dataSource.CreateCommand("DELETE FROM mesh_members WHERE node_id = @node_id");
        command.Parameters.AddWithValue("node_id", nodeId);
        command.ExecuteNonQuery();
    }

    /// <summary>Every revoked key, oldest revocation first.</summary>
    public IReadOnlyList<RevokedKey> Revoked()
    {
        using var command = _dataSource.CreateCommand(
            "SELECT public_key, node_id, key_epoch, revoked_at FROM mesh_revoked ORDER BY revoked_at, public_key");
        using var reader = command.ExecuteReader();
        var keys = new List<RevokedKey>();
        while (reader.Read())
        {
            keys.Add(new RevokedKey
            {
                PublicKey = reader.GetFieldValue<byte[]>(0),
                NodeId = reader.GetString(1),
                KeyEpoch = (uint)reader.GetInt64(2),
                RevokedAt = reader.GetFieldValue<DateTimeOffset>(3),
            });
        }

        return keys;
    }

    public void AddRevoked(RevokedKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        using var command = _dataSource.CreateCommand(
            "INSERT INTO mesh_revoked (public_key, node_id, key_epoch, revoked_at) VALUES (@public_key, @node_id, @key_epoch, @revoked_at) "
            + "ON CONFLICT (public_key) DO UPDATE SET node_id = excluded.node_id, key_epoch = excluded.key_epoch, revoked_at = excluded.revoked_at");
        command.Parameters.Add(new NpgsqlParameter("public_key", NpgsqlDbType.Bytea) { Value = key.PublicKey });
        command.Parameters.Add(new NpgsqlParameter("node_id", NpgsqlDbType.Text) { Value = key.NodeId });
        command.Parameters.Add(new NpgsqlParameter("key_epoch", NpgsqlDbType.Bigint) { Value = (long)key.KeyEpoch });
        command.Parameters.Add(new NpgsqlParameter("revoked_at", NpgsqlDbType.TimestampTz) { Value = key.RevokedAt.UtcDateTime });
        command.ExecuteNonQuery();
    }

    public IReadOnlyList<MeshHubRecord> Hubs()
    {
        using var command = _dataSource.CreateCommand("SELECT instance_id, public_key, endpoint, seen_at FROM mesh_hubs ORDER BY instance_id");
        using var reader = command.ExecuteReader();
        var hubs = new List<MeshHubRecord>();
        while (reader.Read())
        {
            hubs.Add(new MeshHubRecord
            {
                InstanceId = reader.GetString(0),
                PublicKey = reader.GetFieldValue<byte[]>(1),
                Endpoint = reader.GetString(2),
                SeenAt = reader.GetFieldValue<DateTimeOffset>(3),
            });
        }

        return hubs;
    }

    public void SaveHub(MeshHubRecord hub)
    {
        ArgumentNullException.ThrowIfNull(hub);
        using var command = _dataSource.CreateCommand(
            "INSERT INTO mesh_hubs (instance_id, public_key, endpoint, seen_at) VALUES (@instance_id, @public_key, @endpoint, @seen_at) "
            + "ON CONFLICT (instance_id) DO UPDATE SET public_key = excluded.public_key, endpoint = excluded.endpoint, seen_at = excluded.seen_at");
        command.Parameters.Add(new NpgsqlParameter("instance_id", NpgsqlDbType.Text) { Value = hub.InstanceId });
        command.Parameters.Add(new NpgsqlParameter("public_key", NpgsqlDbType.Bytea) { Value = hub.PublicKey });
        command.Parameters.Add(new NpgsqlParameter("endpoint", NpgsqlDbType.Text) { Value = hub.Endpoint });
        command.Parameters.Add(new NpgsqlParameter("seen_at", NpgsqlDbType.TimestampTz) { Value = hub.SeenAt.UtcDateTime });
        command.ExecuteNonQuery();
    }

    /// <summary>Labels as one JSON object of strings, written by hand (no reflection: trimming-safe).</summary>
    private static string WriteLabels(IReadOnlyDictionary<string, string> labels)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (name, value) in labels)
            {
                json.WriteString(name, value);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static Dictionary<string, string> ReadLabels(string json)
    {
        using var document = JsonDocument.Parse(json);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            labels[property.Name] = property.Value.GetString() ?? string.Empty;
        }

        return labels;
    }
}
