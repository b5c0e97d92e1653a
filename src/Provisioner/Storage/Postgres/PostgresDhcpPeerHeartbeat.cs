using Kldload.Dhcp.LoadBalancing;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// <see cref="IDhcpPeerHeartbeat"/> in PostgreSQL table <c>dhcp_peers</c>: one row per segment and
/// role, whose <c>beat</c> its server sets to the database's <c>now()</c> every second. A beat and the
/// peer's age are one statement, and the age is the database's <c>now()</c> minus the peer's last beat:
/// both ends of the comparison come from one clock, whatever the servers' own clocks say.
/// </summary>
public sealed class PostgresDhcpPeerHeartbeat : IDhcpPeerHeartbeat
{
    /// <summary>The table and its migrations (component <c>dhcp_peers</c>).</summary>
    public static readonly PostgresSchema Schema = new("dhcp_peers",
    [
        """
        CREATE TABLE dhcp_peers (
            segment text NOT NULL,
            role smallint NOT NULL,
            instance text NOT NULL,
            beat timestamptz NOT NULL,
            PRIMARY KEY (segment, role)
        );
        """,
    ]);

    private const string BeatSql =
        "WITH mine AS (INSERT INTO dhcp_peers (segment, role, instance, beat) VALUES (@segment, @role, @instance, now()) "
        + "ON CONFLICT (segment, role) DO UPDATE SET instance = excluded.instance, beat = excluded.beat) "
        + "SELECT now() - beat < @timeout FROM dhcp_peers WHERE segment = @segment AND role = @peer";

    private readonly NpgsqlDataSource _dataSource;
    private readonly DhcpPeerLink _link;

    /// <summary>Uses <paramref name="database"/>'s pool; creates or migrates the table.</summary>
    public PostgresDhcpPeerHeartbeat(PostgresKldloadDatabase database, DhcpPeerLink link)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(link);
        if (link.Role == DhcpLoadBalancingRole.None)
        {
            throw new ArgumentException("a heartbeat needs a Primary or Secondary role", nameof(link));
        }

        database.Migrate(Schema);
        _dataSource = database.DataSource;
        _link = link;
    }

    /// <inheritdoc/>
    /// <exception cref="NpgsqlException">The database could not be reached.</exception>
    public bool Beat()
    {
        using var command = _dataSource.CreateCommand(BeatSql);
        command.Parameters.Add(new NpgsqlParameter("segment", NpgsqlDbType.Text) { Value = _link.Segment });
        command.Parameters.Add(new NpgsqlParameter("role", NpgsqlDbType.Smallint) { Value = (short)_link.Role });
        command.Parameters.Add(new NpgsqlParameter("peer", NpgsqlDbType.Smallint) { Value = (short)_link.Role.Peer() });
        command.Parameters.Add(new NpgsqlParameter("instance", NpgsqlDbType.Text) { Value = _link.Instance });
        command.Parameters.Add(new NpgsqlParameter("timeout", NpgsqlDbType.Interval) { Value = _link.PeerTimeout });
        return command.ExecuteScalar() is true;
    }
}
