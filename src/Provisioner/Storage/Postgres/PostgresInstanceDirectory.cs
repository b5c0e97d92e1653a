using Npgsql;

namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// <see cref="IInstanceDirectory"/> over the rows instances leave in the shared tables: <c>mesh_hubs</c>,
/// <c>image_blob_holders</c> and <c>dhcp_peers</c> (the last only exists once a load-balancing pair ran).
/// </summary>
public sealed class PostgresInstanceDirectory(PostgresKldloadDatabase database, InstanceIdentity self) : IInstanceDirectory
{
    public IReadOnlyList<InstanceRecord> List()
    {
        var hubs = new Dictionary<string, (string Endpoint, DateTimeOffset Seen)>(StringComparer.Ordinal);
        var blobs = new Dictionary<string, (string Url, int Count, DateTimeOffset Seen)>(StringComparer.Ordinal);
        var dhcp = new Dictionary<string, List<InstanceDhcpRole>>(StringComparer.Ordinal);
        using var connection = database.DataSource.OpenConnection();
        if (Exists(connection, "mesh_hubs"))
        {
            using var command = new NpgsqlCommand("SELECT instance_id, endpoint, seen_at FROM mesh_hubs", connection);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                hubs[reader.GetString(0)] = (reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2));
            }
        }

        if (Exists(connection, "image_blob_holders"))
        {
            using var command = new NpgsqlCommand("SELECT instance, max(url), count(*)::int, max(seen) FROM image_blob_holders GROUP BY instance", connection);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                blobs[reader.GetString(0)] = (reader.GetString(1), reader.GetInt32(2), reader.GetFieldValue<DateTimeOffset>(3));
            }
        }

        if (Exists(connection, "dhcp_peers"))
        {
            using var command = new NpgsqlCommand("SELECT instance, segment, role, beat FROM dhcp_peers ORDER BY segment, role", connection);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var id = reader.GetString(0);
                var role = reader.GetInt16(2) == 1 ? "primary" : "secondary";
                (dhcp.TryGetValue(id, out var list) ? list : dhcp[id] = []).Add(new InstanceDhcpRole(reader.GetString(1), role, reader.GetFieldValue<DateTimeOffset>(3)));
            }
        }

        var ids = hubs.Keys.Concat(blobs.Keys).Concat(dhcp.Keys).Append(self.Name).Distinct(StringComparer.Ordinal);
        return [.. ids.Select(id =>
        {
            var seen = new List<DateTimeOffset>();
            string? endpoint = null, url = null;
            var count = 0;
            if (hubs.TryGetValue(id, out var hub))
            {
                endpoint = hub.Endpoint;
                seen.Add(hub.Seen);
            }

            if (blobs.TryGetValue(id, out var held))
            {
                (url, count) = (held.Url, held.Count);
                seen.Add(held.Seen);
            }

            var roles = dhcp.GetValueOrDefault(id) ?? [];
            seen.AddRange(roles.Select(r => r.Beat));
            return new InstanceRecord(id, id == self.Name, seen.Count == 0 ? null : seen.Max(), endpoint, url, count, roles);
        }).OrderByDescending(i => i.Self).ThenBy(i => i.Id, StringComparer.Ordinal)];
    }

    public int Forget(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        using var connection = database.DataSource.OpenConnection();
        using var transaction = connection.BeginTransaction();
        var removed = 0;
        foreach (var (table, column) in new[] { ("mesh_hubs", "instance_id"), ("image_blob_holders", "instance"), ("dhcp_peers", "instance") })
        {
            if (Exists(connection, table))
            {
                using var command = new NpgsqlCommand($"DELETE FROM {table} WHERE {column} = @id", connection, transaction);
                command.Parameters.AddWithValue("id", id);
                removed += command.ExecuteNonQuery();
            }
        }

        transaction.Commit();
        return removed;
    }

    private static bool Exists(NpgsqlConnection connection, string table)
    {
        using var command = new NpgsqlCommand("SELECT to_regclass(@name) IS NOT NULL", connection);
        command.Parameters.AddWithValue("name", table);
        return (bool)command.ExecuteScalar()!;
    }
}
