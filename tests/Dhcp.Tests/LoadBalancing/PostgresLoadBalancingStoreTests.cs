using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;
using Kldload.Testing.Postgres;

namespace Kldload.Dhcp.Tests.LoadBalancing;

/// <summary>
/// What two load-balancing servers share in PostgreSQL: the conditional lease flush (the last line
/// against one address granted twice) and the heartbeat rows, on the test kit's private cluster.
/// </summary>
public sealed class PostgresLoadBalancingStoreTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresKldloadDatabase _database = PostgresKldloadDatabase.Open(postgres.CreateDatabase());

    public void Dispose() => _database.Dispose();

    private static DhcpLease Lease(int client, string address, TimeSpan expiresIn, DhcpLeaseState state = DhcpLeaseState.Active) => new()
    {
        Address = Ipv4Address.Parse(address),
        ClientId = $"hw:5254000000{client:x2}",
        HardwareAddress = $"52:54:00:00:00:{client:x2}",
        State = state,
        Expires = DateTimeOffset.UtcNow + expiresIn,
    };

    private DhcpLease Stored(string address)
    {
        using var store = new PostgresLeaseStore(_database);
        return store.LoadAll().Single(l => l.Address == Ipv4Address.Parse(address));
    }

    [Fact]
    public void Flush_AddressActiveForAnotherClient_IsRefusedWithItsHolderAndNotRetried()
    {
        using var primary = new PostgresLeaseStore(_database);
        using var secondary = new PostgresLeaseStore(_database);
        primary.Save(Lease(1, "10.0.0.100", TimeSpan.FromHours(1)));
        Assert.Empty(primary.FlushRefusingConflicts());

        secondary.Save(Lease(2, "10.0.0.100", TimeSpan.FromHours(1)));
        secondary.Save(Lease(2, "10.0.0.101", TimeSpan.FromHours(1)));
        var conflict = Assert.Single(secondary.FlushRefusingConflicts());

        Assert.Equal("hw:525400000002", conflict.Refused.ClientId);
        Assert.Equal("hw:525400000001", conflict.Holder.ClientId);
        Assert.Equal(Ipv4Address.Parse("10.0.0.100"), conflict.Holder.Address);
        Assert.Equal("hw:525400000001", Stored("10.0.0.100").ClientId);
        Assert.Equal("hw:525400000002", Stored("10.0.0.101").ClientId);
        Assert.Empty(secondary.FlushRefusingConflicts()); // refused, not staged again
    }

    [Theory]
    [InlineData(1, DhcpLeaseState.Active, 60, DhcpLeaseState.Active)] // the same client renews
    [InlineData(2, DhcpLeaseState.Released, 60, DhcpLeaseState.Active)] // the holder released it
    [InlineData(2, DhcpLeaseState.Active, -1, DhcpLeaseState.Active)] // the holder's lease expired
    [InlineData(2, DhcpLeaseState.Active, 60, DhcpLeaseState.Declined)] // in use on the wire: declined whoever holds it
    public void Flush_AddressFreeForThisClient_IsWritten(int client, DhcpLeaseState storedState, int storedMinutes, DhcpLeaseState newState)
    {
        using var first = new PostgresLeaseStore(_database);
        using var second = new PostgresLeaseStore(_database);
        first.Save(Lease(1, "10.0.0.100", TimeSpan.FromMinutes(storedMinutes), storedState));
        first.Flush();

        var lease = Lease(client, "10.0.0.100", TimeSpan.FromHours(1), newState);
        second.Save(lease);

        Assert.Empty(second.FlushRefusingConflicts());
        Assert.Equal(lease.ClientId, Stored("10.0.0.100").ClientId);
        Assert.Equal(newState, Stored("10.0.0.100").State);
    }

    [Fact]
    public void Flush_ReleaseOfAnAddressAnotherClientNowHolds_IsRefused()
    {
        using var first = new PostgresLeaseStore(_database);
        using var second = new PostgresLeaseStore(_database);
        first.Save(Lease(1, "10.0.0.100", TimeSpan.FromHours(1)));
        first.Flush();

        // A server that still believes client 2 holds .100 releases it: the holder's lease must stay.
        second.Save(Lease(2, "10.0.0.100", TimeSpan.Zero, DhcpLeaseState.Released));

        Assert.Single(second.FlushRefusingConflicts());
        Assert.Equal(DhcpLeaseState.Active, Stored("10.0.0.100").State);
    }

    private PostgresDhcpPeerHeartbeat Heartbeat(DhcpLoadBalancingRole role, string segment = "10.0.0.0/24") =>
        new(_database, new DhcpPeerLink(segment, role, $"test-{role}", TimeSpan.FromSeconds(10)));

    [Fact]
    public void Beat_PeerNeverBeat_PeerIsNotAlive()
    {
        Assert.False(Heartbeat(DhcpLoadBalancingRole.Primary).Beat());
    }

    [Fact]
    public void Beat_BothBeating_EachSeesTheOther()
    {
        var primary = Heartbeat(DhcpLoadBalancingRole.Primary);
        var secondary = Heartbeat(DhcpLoadBalancingRole.Secondary);

        Assert.False(primary.Beat());
        Assert.True(secondary.Beat());
        Assert.True(primary.Beat());
    }

    [Fact]
    public void Beat_PeersLastBeatOlderThanTheTimeout_PeerIsNotAlive()
    {
        var primary = Heartbeat(DhcpLoadBalancingRole.Primary);
        Heartbeat(DhcpLoadBalancingRole.Secondary).Beat();
        Assert.True(primary.Beat());

        using (var command = _database.DataSource.CreateCommand("UPDATE dhcp_peers SET beat = now() - interval '11 seconds' WHERE role = 2"))
        {
            command.ExecuteNonQuery();
        }

        Assert.False(primary.Beat());
    }

    [Fact]
    public void Beat_PeerOnAnotherSegment_IsNotThisServersPeer()
    {
        var primary = Heartbeat(DhcpLoadBalancingRole.Primary, "10.0.0.0/24");
        Heartbeat(DhcpLoadBalancingRole.Secondary, "10.9.0.0/24").Beat();

        Assert.False(primary.Beat());
        using var command = _database.DataSource.CreateCommand("SELECT count(*) FROM dhcp_peers");
        Assert.Equal(2L, command.ExecuteScalar());
    }
}
