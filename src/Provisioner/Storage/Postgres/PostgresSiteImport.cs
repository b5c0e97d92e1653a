using System.Text.Json;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Server;
using Kldload.MeshCA.Addressing;
using Kldload.MeshCA.Distribution;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// The writes of <c>kldload db migrate</c> that the stores of other assemblies (mesh, DHCP leases) do
/// not make on the caller's transaction: the same rows those stores write, made on
/// <see cref="PostgresAmbientTransaction"/>, so a whole site lands in one transaction or not at all.
/// The stores read them back for the check that follows.
/// </summary>
public static class PostgresSiteImport
{
    /// <summary>The tables a migration fills, in the order it fills them.</summary>
    public static IReadOnlyList<string> Tables { get; } =
    [
        "nodes", "node_events", "profiles", "node_facts", "boot_tokens", "operator_tokens", "attestation_sessions",
        "revoked_eks", "node_bmcs", "rollouts", "image_manifests", "image_channels", "image_channel_history", "image_history",
        "mesh_settings", "mesh_addresses", "mesh_members", "mesh_revoked", "dhcp_leases", "dhcp6_leases",
    ];

    /// <summary>The tables among <see cref="Tables"/> that hold at least one row.</summary>
    public static IReadOnlyList<string> TablesWithRows(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        var held = new List<string>();
        foreach (var table in Tables)
        {
            // The names come from the list above, never from input.
            using var command = database.CreateCommand($"SELECT EXISTS (SELECT 1 FROM {table})");
            if ((bool)command.ExecuteScalar()!)
            {
                held.Add(table);
            }
        }

        return held;
    }

    /// <summary>Deletes every row of <see cref="Tables"/> (<c>--replace</c>), on the caller's transaction.</summary>
    public static void DeleteAll(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        using var command = database.CreateCommand($"TRUNCATE {string.Join(", ", Tables)}");
        command.ExecuteNonQuery();
    }

    /// <summary>Moves the identity sequence of <paramref name="table"/>'s <c>id</c> past the largest id it holds.</summary>
    public static void ContinueIdsAfterMax(PostgresKldloadDatabase database, string table)
    {
        ArgumentNullException.ThrowIfNull(database);
        using var command = database.CreateCommand(
            $"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)");
        command.ExecuteScalar();
    }

    /// <summary>The mesh settings (the epoch among them, as the roster store writes it).</summary>
    public static void ImportMeshSettings(PostgresKldloadDatabase database, IReadOnlyDictionary<string, string> settings)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(settings);
        foreach (var (name, value) in settings)
        {
            using var command = database.CreateCommand("INSERT INTO mesh_settings (name, value) VALUES (@name, @value)");
            command.Parameters.Add(new NpgsqlParameter("name", NpgsqlDbType.Text) { Value = name });
            command.Parameters.Add(new NpgsqlParameter("value", NpgsqlDbType.Text) { Value = value });
            command.ExecuteNonQuery();
        }
    }

    /// <summary>The mesh address allocations, released ones included.</summary>
    public static void ImportMeshAddresses(PostgresKldloadDatabase database, IEnumerable<MeshAddressRecord> records)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(records);
        foreach (var record in records)
        {
            using var command = database.CreateCommand(
                "INSERT INTO mesh_addresses (interface_id, address4, node_id, ek_sha256, allocated_at, released_at) "
                + "VALUES (@interface_id, @address4, @node_id, @ek_sha256, @allocated_at, @released_at)");
            command.Parameters.Add(new NpgsqlParameter("interface_id", NpgsqlDbType.Bigint) { Value = unchecked((long)record.InterfaceId) });
            command.Parameters.Add(new NpgsqlParameter("address4", NpgsqlDbType.Bigint) { Value = record.Address4 is { } v4 ? (long)v4 : DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("node_id", NpgsqlDbType.Text) { Value = record.NodeId });
            command.Parameters.Add(new NpgsqlParameter("ek_sha256", NpgsqlDbType.Text) { Value = record.EkSha256 });
            command.Parameters.Add(new NpgsqlParameter("allocated_at", NpgsqlDbType.TimestampTz) { Value = record.AllocatedAt.UtcDateTime });
            command.Parameters.Add(new NpgsqlParameter("released_at", NpgsqlDbType.TimestampTz) { Value = record.ReleasedAt is { } r ? r.UtcDateTime : DBNull.Value });
            command.ExecuteNonQuery();
        }
    }

    /// <summary>The mesh roster: its members and its revoked keys.</summary>
    public static void ImportMeshRoster(PostgresKldloadDatabase database, IEnumerable<MeshMember> members, IEnumerable<RevokedKey> revoked)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(revoked);
        foreach (var member in members)
        {
            using var command = database.CreateCommand(
                "INSERT INTO mesh_members (node_id, public_key, key_epoch, address6, address4, endpoint, labels, hub) "
                + "VALUES (@node_id, @public_key, @key_epoch, @address6, @address4, @endpoint, @labels, @hub)");
            command.Parameters.Add(new NpgsqlParameter("node_id", NpgsqlDbType.Text) { Value = member.NodeId });
            command.Parameters.Add(new NpgsqlParameter("public_key", NpgsqlDbType.Bytea) { Value = member.PublicKey });
            command.Parameters.Add(new NpgsqlParameter("key_epoch", NpgsqlDbType.Bigint) { Value = (long)member.KeyEpoch });
            command.Parameters.Add(new NpgsqlParameter("address6", NpgsqlDbType.Inet) { Value = member.Address6 });
            command.Parameters.Add(new NpgsqlParameter("address4", NpgsqlDbType.Inet) { Value = (object?)member.Address4 ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("endpoint", NpgsqlDbType.Text) { Value = (object?)member.Endpoint ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("labels", NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(member.Labels.ToDictionary(StringComparer.Ordinal), LabelsJson.Default.DictionaryStringString) });
            command.Parameters.Add(new NpgsqlParameter("hub", NpgsqlDbType.Text) { Value = (object?)member.Hub ?? DBNull.Value });
            command.ExecuteNonQuery();
        }

        foreach (var key in revoked)
        {
            using var command = database.CreateCommand(
                "INSERT INTO mesh_revoked (public_key, node_id, key_epoch, revoked_at) VALUES (@public_key, @node_id, @key_epoch, @revoked_at)");
            command.Parameters.Add(new NpgsqlParameter("public_key", NpgsqlDbType.Bytea) { Value = key.PublicKey });
            command.Parameters.Add(new NpgsqlParameter("node_id", NpgsqlDbType.Text) { Value = key.NodeId });
            command.Parameters.Add(new NpgsqlParameter("key_epoch", NpgsqlDbType.Bigint) { Value = (long)key.KeyEpoch });
            command.Parameters.Add(new NpgsqlParameter("revoked_at", NpgsqlDbType.TimestampTz) { Value = key.RevokedAt.UtcDateTime });
            command.ExecuteNonQuery();
        }
    }

    /// <summary>The DHCPv4 leases, one row each.</summary>
    public static void ImportLeases(PostgresKldloadDatabase database, IEnumerable<DhcpLease> leases)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(leases);
        foreach (var lease in leases)
        {
            using var command = database.CreateCommand(
                "INSERT INTO dhcp_leases (address, client_id, hardware_address, state, expires, host_name, relay_agent_information, relay_address) "
                + "VALUES (@address, @client_id, @hardware_address, @state, @expires, @host_name, @relay_agent_information, @relay_address)");
            command.Parameters.Add(new NpgsqlParameter("address", NpgsqlDbType.Inet) { Value = lease.Address.ToIPAddress() });
            command.Parameters.Add(new NpgsqlParameter("client_id", NpgsqlDbType.Text) { Value = lease.ClientId });
            command.Parameters.Add(new NpgsqlParameter("hardware_address", NpgsqlDbType.Text) { Value = lease.HardwareAddress });
            command.Parameters.Add(new NpgsqlParameter("state", NpgsqlDbType.Smallint) { Value = (short)lease.State });
            command.Parameters.Add(new NpgsqlParameter("expires", NpgsqlDbType.TimestampTz) { Value = lease.Expires.UtcDateTime });
            command.Parameters.Add(new NpgsqlParameter("host_name", NpgsqlDbType.Text) { Value = (object?)lease.HostName ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("relay_agent_information", NpgsqlDbType.Bytea) { Value = (object?)lease.RelayAgentInformation ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("relay_address", NpgsqlDbType.Inet) { Value = lease.RelayAddress.ToIPAddress() });
            command.ExecuteNonQuery();
        }
    }

    /// <summary>The DHCPv6 leases, one row each.</summary>
    public static void ImportLeases6(PostgresKldloadDatabase database, IEnumerable<Dhcp6Lease> leases)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(leases);
        foreach (var lease in leases)
        {
            using var command = database.CreateCommand(
                "INSERT INTO dhcp6_leases (address, client_duid, iaid, hardware_address, state, expires, relay_link_address, interface_id, remote_id) "
                + "VALUES (@address, @client_duid, @iaid, @hardware_address, @state, @expires, @relay_link_address, @interface_id, @remote_id)");
            command.Parameters.Add(new NpgsqlParameter("address", NpgsqlDbType.Inet) { Value = lease.Address });
            command.Parameters.Add(new NpgsqlParameter("client_duid", NpgsqlDbType.Text) { Value = lease.ClientDuid });
            command.Parameters.Add(new NpgsqlParameter("iaid", NpgsqlDbType.Bigint) { Value = (long)lease.Iaid });
            command.Parameters.Add(new NpgsqlParameter("hardware_address", NpgsqlDbType.Text) { Value = lease.HardwareAddress });
            command.Parameters.Add(new NpgsqlParameter("state", NpgsqlDbType.Smallint) { Value = (short)lease.State });
            command.Parameters.Add(new NpgsqlParameter("expires", NpgsqlDbType.TimestampTz) { Value = lease.Expires.UtcDateTime });
            command.Parameters.Add(new NpgsqlParameter("relay_link_address", NpgsqlDbType.Inet) { Value = (object?)lease.RelayLinkAddress ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("interface_id", NpgsqlDbType.Bytea) { Value = (object?)lease.InterfaceId ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("remote_id", NpgsqlDbType.Bytea) { Value = (object?)lease.RemoteId ?? DBNull.Value });
            command.ExecuteNonQuery();
        }
    }

    /// <summary>The names in <c>mesh_settings</c>: the stores read settings by name only.</summary>
    public static IReadOnlyList<string> MeshSettingNames(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        using var command = database.CreateCommand("SELECT name FROM mesh_settings ORDER BY name");
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class LabelsJson : System.Text.Json.Serialization.JsonSerializerContext;
