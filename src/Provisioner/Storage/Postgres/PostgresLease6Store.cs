using System.Net;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Server;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// <see cref="IDhcp6LeaseStore"/> in PostgreSQL table <c>dhcp6_leases</c>, one row per address (the
/// primary key), with the DHCPv4 store's write path (<see cref="PostgresLeaseStore"/>): saves are
/// staged in memory, <see cref="Flush"/> writes the whole batch in one statement and one transaction,
/// and a failed flush keeps its leases staged and throws.
/// </summary>
public sealed class PostgresLease6Store : IDhcp6LeaseStore
{
    /// <summary>The table and its migrations (component <c>dhcp6_leases</c>).</summary>
    public static readonly PostgresSchema Schema = new("dhcp6_leases",
    [
        """
        CREATE TABLE dhcp6_leases (
            address inet PRIMARY KEY CHECK (family(address) = 6 AND masklen(address) = 128),
            client_duid text NOT NULL,
            iaid bigint NOT NULL CHECK (iaid BETWEEN 0 AND 4294967295),
            hardware_address text NOT NULL,
            state smallint NOT NULL,
            expires timestamptz NOT NULL,
            relay_link_address inet,
            interface_id bytea,
            remote_id bytea
        );
        """,
    ]);

    private const string Columns = "address, client_duid, iaid, hardware_address, state, expires, relay_link_address, interface_id, remote_id";

    private const string UpsertSql =
        "INSERT INTO dhcp6_leases (" + Columns + ") "
        + "SELECT * FROM unnest(@address, @client_duid, @iaid, @hardware_address, @state, @expires, @relay_link_address, @interface_id, @remote_id) "
        + "ON CONFLICT (address) DO UPDATE SET client_duid = excluded.client_duid, iaid = excluded.iaid, "
        + "hardware_address = excluded.hardware_address, state = excluded.state, expires = excluded.expires, "
        + "relay_link_address = excluded.relay_link_address, interface_id = excluded.interface_id, remote_id = excluded.remote_id";

    private const string SelectAllSql = "SELECT " + Columns + " FROM dhcp6_leases";

    private readonly NpgsqlDataSource _dataSource;
    private readonly LeaseStage<IPAddress, Dhcp6Lease> _staged = new(l => l.Address);

    /// <summary>Uses <paramref name="database"/>'s pool; creates or migrates the table.</summary>
    public PostgresLease6Store(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(Schema);
        _dataSource = database.DataSource;
    }

    /// <summary>Every lease in the table, with the staged (not yet flushed) ones over them.</summary>
    public IReadOnlyList<Dhcp6Lease> LoadAll()
    {
        return _staged.Over(ReadAll());
    }

    public void Save(Dhcp6Lease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        if (lease.Address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException($"lease address {lease.Address} is not IPv6", nameof(lease));
        }

        _staged.Add(lease);
    }

    /// <summary>Writes every staged lease in one statement; saves may continue meanwhile.</summary>
    /// <exception cref="NpgsqlException">The database could not commit the batch (it stays staged).</exception>
    public void Flush()
    {
        _staged.Flush(Write);
    }

    /// <summary>Nothing to release: connections belong to the database's pool.</summary>
    public void Dispose()
    {
    }

    private void Write(IReadOnlyCollection<Dhcp6Lease> batch)
    {
        var n = batch.Count;
        var address = new IPAddress[n];
        var duid = new string[n];
        var iaid = new long[n];
        var hardwareAddress = new string[n];
        var state = new short[n];
        var expires = new DateTime[n];
        var relayLink = new IPAddress?[n];
        var interfaceId = new byte[]?[n];
        var remoteId = new byte[]?[n];
        var i = 0;
        foreach (var lease in batch)
        {
            address[i] = lease.Address;
            duid[i] = lease.ClientDuid;
            iaid[i] = lease.Iaid;
            hardwareAddress[i] = lease.HardwareAddress;
            state[i] = (short)lease.State;
            expires[i] = lease.Expires.UtcDateTime;
            relayLink[i] = lease.RelayLinkAddress;
            interfaceId[i] = lease.InterfaceId;
            remoteId[i] = lease.RemoteId;
            i++;
        }

        using var command = _dataSource.CreateCommand(UpsertSql);
        command.Parameters.Add(new NpgsqlParameter("address", NpgsqlDbType.Array | NpgsqlDbType.Inet) { Value = address });
        command.Parameters.Add(new NpgsqlParameter("client_duid", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = duid });
        command.Parameters.Add(new NpgsqlParameter("iaid", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = iaid });
        command.Parameters.Add(new NpgsqlParameter("hardware_address", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = hardwareAddress });
        command.Parameters.Add(new NpgsqlParameter("state", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { Value = state });
        command.Parameters.Add(new NpgsqlParameter("expires", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = expires });
        command.Parameters.Add(new NpgsqlParameter("relay_link_address", NpgsqlDbType.Array | NpgsqlDbType.Inet) { Value = relayLink });
        command.Parameters.Add(new NpgsqlParameter("interface_id", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { Value = interfaceId });
        command.Parameters.Add(new NpgsqlParameter("remote_id", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { Value = remoteId });
        command.ExecuteNonQuery();
    }

    private List<Dhcp6Lease> ReadAll()
    {
        using var command = _dataSource.CreateCommand(SelectAllSql);
        using var reader = command.ExecuteReader();
        var leases = new List<Dhcp6Lease>();
        while (reader.Read())
        {
            leases.Add(new Dhcp6Lease
            {
                Address = reader.GetFieldValue<IPAddress>(0),
                ClientDuid = reader.GetString(1),
                Iaid = (uint)reader.GetInt64(2),
                HardwareAddress = reader.GetString(3),
                State = (DhcpLeaseState)reader.GetInt16(4),
                Expires = reader.GetFieldValue<DateTimeOffset>(5),
                RelayLinkAddress = reader.IsDBNull(6) ? null : reader.GetFieldValue<IPAddress>(6),
                InterfaceId = reader.IsDBNull(7) ? null : reader.GetFieldValue<byte[]>(7),
                RemoteId = reader.IsDBNull(8) ? null : reader.GetFieldValue<byte[]>(8),
            });
        }

        return leases;
    }
}
