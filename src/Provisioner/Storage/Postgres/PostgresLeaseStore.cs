using System.Net;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// <see cref="ILeaseStore"/> in PostgreSQL table <c>dhcp_leases</c>: one row per address (the primary
/// key, so one address can never be held by two rows, whichever provisioner writes it).
/// <para>
/// <see cref="Save"/> stages the lease in memory (the last save of an address wins);
/// <see cref="Flush"/> writes every staged lease in one statement, one round trip and one
/// transaction (an <c>INSERT ... SELECT FROM unnest(arrays) ON CONFLICT (address) DO UPDATE</c>),
/// and returns once PostgreSQL has committed it, so the server's group commit costs one round trip
/// per batch however many leases it holds. A flush that fails puts its leases back in the stage
/// (unless saved again meanwhile) and throws: nothing the batch granted is acknowledged, and the next
/// flush retries it.
/// </para>
/// <para>
/// Several servers write this table (load balancing, <c>docs/dhcp-ha.md</c>), so the upsert is
/// conditional: a lease replaces the stored lease of its address only when that lease belongs to the
/// same client, is released, or has expired by the database's clock (or the new lease is a decline:
/// the address is in use on the wire whoever holds it). A refused lease is not written and not staged
/// again; <see cref="FlushRefusingConflicts"/> returns it with the lease that kept the address, and its
/// ACK is withheld. Here, not in memory, is where an address is never granted twice.
/// </para>
/// <para>
/// Expiry times are kept to the microsecond (timestamptz), in UTC.
/// </para>
/// </summary>
public sealed class PostgresLeaseStore : ILeaseStore
{
    /// <summary>The table and its migrations (component <c>dhcp_leases</c>).</summary>
    public static readonly PostgresSchema Schema = new("dhcp_leases",
    [
        """
        CREATE TABLE dhcp_leases (
            address inet PRIMARY KEY CHECK (family(address) = 4 AND masklen(address) = 32),
            client_id text NOT NULL,
            hardware_address text NOT NULL,
            state smallint NOT NULL,
            expires timestamptz NOT NULL,
            host_name text,
            relay_agent_information bytea,
            relay_address inet NOT NULL
        );
        """,
    ]);

    private const string Columns = "address, client_id, hardware_address, state, expires, host_name, relay_agent_information, relay_address";

    private const string UpsertSql =
        "INSERT INTO dhcp_leases (" + Columns + ") "
        + "SELECT * FROM unnest(@address, @client_id, @hardware_address, @state, @expires, @host_name, @relay_agent_information, @relay_address) "
        + "ON CONFLICT (address) DO UPDATE SET client_id = excluded.client_id, hardware_address = excluded.hardware_address, "
        + "state = excluded.state, expires = excluded.expires, host_name = excluded.host_name, "
        + "relay_agent_information = excluded.relay_agent_information, relay_address = excluded.relay_address "
        + "WHERE dhcp_leases.client_id = excluded.client_id OR dhcp_leases.state = 2 OR dhcp_leases.expires <= now() OR excluded.state = 3 "
        + "RETURNING address";

    private const string SelectByAddressSql = "SELECT " + Columns + " FROM dhcp_leases WHERE address = ANY(@address)";

    private const string SelectAllSql = "SELECT " + Columns + " FROM dhcp_leases";

    private readonly NpgsqlDataSource _dataSource;
    private readonly LeaseStage<uint, DhcpLease> _staged = new(l => l.Address.Value);

    /// <summary>Uses <paramref name="database"/>'s pool; creates or migrates the table.</summary>
    public PostgresLeaseStore(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(Schema);
        _dataSource = database.DataSource;
    }

    /// <summary>Every lease in the table, with the staged (not yet flushed) ones over them.</summary>
    public IReadOnlyList<DhcpLease> LoadAll()
    {
        return _staged.Over(ReadAll());
    }

    public void Save(DhcpLease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        _staged.Add(lease);
    }

    /// <summary>
    /// Writes every staged lease in one statement. Saves may continue on other threads meanwhile: the
    /// stage is swapped under its lock and written outside it (<see cref="LeaseStage{TKey, TLease}"/>).
    /// </summary>
    /// <exception cref="NpgsqlException">The database could not commit the batch (it stays staged).</exception>
    public void Flush()
    {
        _ = FlushRefusingConflicts();
    }

    /// <inheritdoc/>
    /// <exception cref="NpgsqlException">The database could not commit the batch (it stays staged).</exception>
    public IReadOnlyList<DhcpLeaseConflict> FlushRefusingConflicts() => _staged.Flush(Write, []);

    /// <inheritdoc/>
    /// <remarks>The staged leases are flushed first; the copy is then read from the table.</remarks>
    public IReadOnlyList<DhcpLease> Snapshot()
    {
        Flush();
        return ReadAll();
    }

    /// <summary>Nothing to release: connections belong to the database's pool.</summary>
    public void Dispose()
    {
    }

    private List<DhcpLeaseConflict> Write(IReadOnlyCollection<DhcpLease> batch)
    {
        var n = batch.Count;
        var address = new IPAddress[n];
        var clientId = new string[n];
        var hardwareAddress = new string[n];
        var state = new short[n];
        var expires = new DateTime[n];
        var hostName = new string?[n];
        var option82 = new byte[]?[n];
        var relay = new IPAddress[n];
        var i = 0;
        foreach (var lease in batch)
        {
            address[i] = lease.Address.ToIPAddress();
            clientId[i] = lease.ClientId;
            hardwareAddress[i] = lease.HardwareAddress;
            state[i] = (short)lease.State;
            expires[i] = lease.Expires.UtcDateTime;
            hostName[i] = lease.HostName;
            option82[i] = lease.RelayAgentInformation;
            relay[i] = lease.RelayAddress.ToIPAddress();
            i++;
        }

        using var command = _dataSource.CreateCommand(UpsertSql);
        command.Parameters.Add(new NpgsqlParameter("address", NpgsqlDbType.Array | NpgsqlDbType.Inet) { Value = address });
        command.Parameters.Add(new NpgsqlParameter("client_id", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = clientId });
        command.Parameters.Add(new NpgsqlParameter("hardware_address", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = hardwareAddress });
        command.Parameters.Add(new NpgsqlParameter("state", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { Value = state });
        command.Parameters.Add(new NpgsqlParameter("expires", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = expires });
        command.Parameters.Add(new NpgsqlParameter("host_name", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = hostName });
        command.Parameters.Add(new NpgsqlParameter("relay_agent_information", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { Value = option82 });
        command.Parameters.Add(new NpgsqlParameter("relay_address", NpgsqlDbType.Array | NpgsqlDbType.Inet) { Value = relay });
        var written = new HashSet<uint>(n);
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                written.Add(Ipv4Address.FromIPAddress(reader.GetFieldValue<IPAddress>(0)).Value);
            }
        }

        if (written.Count == n)
        {
            return [];
        }

        // Refused: read who holds each address now (the rows the upsert found and left alone).
        var refused = batch.Where(l => !written.Contains(l.Address.Value)).ToList();
        using var select = _dataSource.CreateCommand(SelectByAddressSql);
        select.Parameters.Add(new NpgsqlParameter("address", NpgsqlDbType.Array | NpgsqlDbType.Inet) { Value = refused.Select(l => l.Address.ToIPAddress()).ToArray() });
        var holders = Read(select).ToDictionary(l => l.Address.Value);
        return refused.Where(l => holders.ContainsKey(l.Address.Value)).Select(l => new DhcpLeaseConflict(l, holders[l.Address.Value])).ToList();
    }

    private List<DhcpLease> ReadAll()
    {
        using var command = _dataSource.CreateCommand(SelectAllSql);
        return Read(command);
    }

    private static List<DhcpLease> Read(NpgsqlCommand command)
    {
        using var reader = command.ExecuteReader();
        var leases = new List<DhcpLease>();
        while (reader.Read())
        {
            leases.Add(new DhcpLease
            {
                Address = Ipv4Address.FromIPAddress(reader.GetFieldValue<IPAddress>(0)),
                ClientId = reader.GetString(1),
                HardwareAddress = reader.GetString(2),
                State = (DhcpLeaseState)reader.GetInt16(3),
                Expires = reader.GetFieldValue<DateTimeOffset>(4),
                HostName = reader.IsDBNull(5) ? null : reader.GetString(5),
                RelayAgentInformation = reader.IsDBNull(6) ? null : reader.GetFieldValue<byte[]>(6),
                RelayAddress = Ipv4Address.FromIPAddress(reader.GetFieldValue<IPAddress>(7)),
            });
        }

        return leases;
    }
}
