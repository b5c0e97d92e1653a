using System.Globalization;
using Kldload.MeshCA.Addressing;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// <see cref="IMeshAddressStore"/> in PostgreSQL tables <c>mesh_addresses</c> and <c>mesh_settings</c>
/// (<see cref="PostgresMeshSchema"/>). Several provisioners may allocate at once: the allocator's lock
/// covers one process only, so the table's keys decide. A save over an interface id another node
/// holds updates nothing (the upsert's <c>WHERE</c>), and one taking an IPv4 address another row holds
/// violates its unique constraint; both surface as <see cref="MeshAddressConflictException"/>, on
/// which the allocator reads again and probes on.
/// </summary>
public sealed class PostgresMeshAddressStore : IMeshAddressStore
{
    private const string Columns = "interface_id, address4, node_id, ek_sha256, allocated_at, released_at";
    private const string UniqueViolation = "23505";

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Uses <paramref name="database"/>'s pool; creates or migrates the mesh tables.</summary>
    public PostgresMeshAddressStore(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(PostgresMeshSchema.Schema);
        _dataSource = database.DataSource;
    }

    public string? GetSetting(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        using var command = _dataSource.CreateCommand("SELECT value FROM mesh_settings WHERE name = @name");
        command.Parameters.AddWithValue("name", name);
        return command.ExecuteScalar() as string;
    }

    public void SetSetting(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        using var command = _dataSource.CreateCommand(
            "INSERT INTO mesh_settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO UPDATE SET value = excluded.value");
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("value", value);
        command.ExecuteNonQuery();
    }

    public string AddSettingIfAbsent(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        // The insert either lands or meets the row another instance committed; either way the row
        // read back is the one every instance uses.
        using (var insert = _dataSource.CreateCommand("INSERT INTO mesh_settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO NOTHING"))
        {
            insert.Parameters.AddWithValue("name", name);
            insert.Parameters.AddWithValue("value", value);
            insert.ExecuteNonQuery();
        }

        return GetSetting(name) ?? value;
    }

    public MeshAddressRecord? FindByInterfaceId(ulong interfaceId) =>
        Query("SELECT " + Columns + " FROM mesh_addresses WHERE interface_id = @key", unchecked((long)interfaceId)).FirstOrDefault();

    public MeshAddressRecord? FindByAddress4(uint address4) =>
        Query("SELECT " + Columns + " FROM mesh_addresses WHERE address4 = @key", (long)address4).FirstOrDefault();

    public IReadOnlyList<MeshAddressRecord> FindByNode(string nodeId)
    {
        ArgumentNullException.ThrowIfNull(nodeId);
        return Query("SELECT " + Columns + " FROM mesh_addresses WHERE node_id = @key", nodeId);
    }

    public IReadOnlyList<MeshAddressRecord> All() => Query<object?>("SELECT " + Columns + " FROM mesh_addresses", null);

    /// <exception cref="MeshAddressConflictException">The interface id or the IPv4 address is held by another node's record.</exception>
    public void Save(MeshAddressRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        using var command = _dataSource.CreateCommand(
            "INSERT INTO mesh_addresses (" + Columns + ") VALUES (@interface_id, @address4, @node_id, @ek_sha256, @allocated_at, @released_at) "
            + "ON CONFLICT (interface_id) DO UPDATE SET address4 = excluded.address4, ek_sha256 = excluded.ek_sha256, "
            + "allocated_at = excluded.allocated_at, released_at = excluded.released_at "
            + "WHERE mesh_addresses.node_id = excluded.node_id");
        command.Parameters.Add(new NpgsqlParameter("interface_id", NpgsqlDbType.Bigint) { Value = unchecked((long)record.InterfaceId) });
        command.Parameters.Add(new NpgsqlParameter("address4", NpgsqlDbType.Bigint) { Value = record.Address4 is { } v4 ? (long)v4 : DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("node_id", NpgsqlDbType.Text) { Value = record.NodeId });
        command.Parameters.Add(new NpgsqlParameter("ek_sha256", NpgsqlDbType.Text) { Value = record.EkSha256 });
        command.Parameters.Add(new NpgsqlParameter("allocated_at", NpgsqlDbType.TimestampTz) { Value = record.AllocatedAt.UtcDateTime });
        command.Parameters.Add(new NpgsqlParameter("released_at", NpgsqlDbType.TimestampTz) { Value = record.ReleasedAt is { } r ? r.UtcDateTime : DBNull.Value });
        int rows;
        try
        {
            rows = command.ExecuteNonQuery();
        }
        catch (PostgresException e) when (e.SqlState == UniqueViolation)
        {
            throw new MeshAddressConflictException(
                string.Create(CultureInfo.InvariantCulture, $"IPv4 mesh address {record.Address4:x8} of node {record.NodeId} is held by another record"), e);
        }

        if (rows == 0)
        {
            throw new MeshAddressConflictException(
                string.Create(CultureInfo.InvariantCulture, $"interface id {record.InterfaceId:x16} is held by a node other than {record.NodeId}"));
        }
    }

    public void Delete(ulong interfaceId)
    {
        using var command = _dataSource.CreateCommand("DELETE FROM mesh_addresses WHERE interface_id = @interface_id");
        command.Parameters.Add(new NpgsqlParameter("interface_id", NpgsqlDbType.Bigint) { Value = unchecked((long)interfaceId) });
        command.ExecuteNonQuery();
    }

    private List<MeshAddressRecord> Query<T>(string sql, T key)
    {
        using var command = _dataSource.CreateCommand(sql);
        if (key is not null)
        {
            command.Parameters.Add(new NpgsqlParameter<T>("key", key));
        }

        using var reader = command.ExecuteReader();
        var records = new List<MeshAddressRecord>();
        while (reader.Read())
        {
            records.Add(new MeshAddressRecord
            {
                InterfaceId = unchecked((ulong)reader.GetInt64(0)),
                Address4 = reader.IsDBNull(1) ? null : (uint)reader.GetInt64(1),
                NodeId = reader.GetString(2),
                EkSha256 = reader.GetString(3),
                AllocatedAt = reader.GetFieldValue<DateTimeOffset>(4),
                ReleasedAt = reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
            });
        }

        return records;
    }
}
