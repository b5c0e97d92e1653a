using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Server;

/// <summary>The engine's <see cref="IDhcpLeaseQuery"/>: listing, operator release, declines and pool usage.</summary>
public class LeaseQueryTests
{
    private static readonly Ipv4Address First = Ipv4Address.Parse("10.0.0.100");

    private static void Decline(EngineFixture f, int mac, Ipv4Address address) =>
        Assert.Null(f.Send(EngineFixture.Message(DhcpMessageType.Decline, mac, m =>
        {
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, EngineFixture.Server);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, address);
        })).Reply);

    [Fact]
    public void ReleaseLease_PoolOfOneHeld_AnotherClientGetsTheAddress()
    {
        var f = new EngineFixture(poolEnd: 100);
        Assert.Equal(First, f.Dora(1).YourAddress);
        Assert.Equal(DhcpDropReason.PoolExhausted, f.Send(EngineFixture.Message(DhcpMessageType.Discover, 2)).Drop);
        var flushes = ((InMemoryLeaseStore)f.Store).FlushCount;

        var before = f.Engine.ReleaseLease(First)!;
        Assert.Equal(DhcpLeaseStatus.Active, before.Status);
        Assert.Equal("52:54:00:00:00:01", before.Lease.HardwareAddress);
        Assert.Equal(DhcpLeaseStatus.Released, f.Engine.FindLease(First)!.Status);
        Assert.Equal(flushes + 1, ((InMemoryLeaseStore)f.Store).FlushCount);
        Assert.Equal(DhcpLeaseState.Released, Assert.Single(f.Store.LoadAll()).State);
        Assert.Null(f.Engine.ReleaseLease(First));

        Assert.Equal(First, f.Dora(2).YourAddress);
        Assert.Equal("52:54:00:00:00:02", f.Engine.FindLease(First)!.Lease.HardwareAddress);
    }

    [Fact]
    public void ReleaseLease_NoRecord_ReturnsNull()
    {
        var f = new EngineFixture();
        Assert.Null(f.Engine.ReleaseLease(First));
        Assert.Null(f.Engine.FindLease(First));
    }

    [Fact]
    public void Decline_ListedWithDeclinerAndTime_AddressComesBackAfterHoldTime()
    {
        var f = new EngineFixture(poolEnd: 100);
        Assert.Equal(First, f.Dora(1).YourAddress);
        f.Clock.Advance(TimeSpan.FromMinutes(3));
        var declinedAt = f.Clock.GetUtcNow();
        Decline(f, 1, First);

        var entry = Assert.Single(f.Engine.ListLeases());
        Assert.Equal(DhcpLeaseStatus.Declined, entry.Status);
        Assert.Equal("52:54:00:00:00:01", entry.Lease.HardwareAddress);
        Assert.Equal(declinedAt, entry.DeclinedAt);
        Assert.Equal(declinedAt + f.Options.DeclineHoldTime, entry.Lease.Expires);
        Assert.Equal(1, Assert.Single(f.Engine.PoolUsage(), p => p.Name == "10.0.0.0/24").Declined);
        Assert.Equal(DhcpDropReason.PoolExhausted, f.Send(EngineFixture.Message(DhcpMessageType.Discover, 2)).Drop);

        f.Clock.Advance(f.Options.DeclineHoldTime - TimeSpan.FromSeconds(1));
        Assert.Equal(DhcpDropReason.PoolExhausted, f.Send(EngineFixture.Message(DhcpMessageType.Discover, 2)).Drop);
        f.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(DhcpLeaseStatus.Expired, f.Engine.FindLease(First)!.Status);
        Assert.Equal(First, f.Dora(2).YourAddress);
    }

    [Fact]
    public void Decline_HoldTimeFromOptions_IsHonoured()
    {
        var f = new EngineFixture(poolEnd: 100, declineHoldTime: TimeSpan.FromSeconds(30));
        f.Dora(1);
        Decline(f, 1, First);
        f.Clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(DhcpLeaseStatus.Declined, f.Engine.FindLease(First)!.Status);
        f.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(First, f.Dora(2).YourAddress);
    }

    [Fact]
    public void ReleaseLease_Declined_ReturnsAddressBeforeHoldTime()
    {
        var f = new EngineFixture(poolEnd: 100);
        f.Dora(1);
        Decline(f, 1, First);
        Assert.Equal(DhcpLeaseStatus.Declined, f.Engine.ReleaseLease(First)!.Status);
        Assert.Equal(First, f.Dora(2).YourAddress);
    }

    [Fact]
    public void PoolUsage_MixedPool_CountsEveryAddressOnce()
    {
        var f = new EngineFixture(reservations: [DhcpReservation.ForHardwareAddress("52:54:00:00:00:77", Ipv4Address.Parse("10.0.0.105"))]);
        f.Dora(1);                                                       // .100 active
        Assert.NotNull(f.Reply(EngineFixture.Message(DhcpMessageType.Discover, 2)));   // .101 offered
        var declined = f.Dora(3).YourAddress;                            // .102, then declined
        Decline(f, 3, declined);

        var pool = Assert.Single(f.Engine.PoolUsage(), p => p.Name == "10.0.0.0/24");
        Assert.Equal((10, 1, 1, 1, 1, 6), (pool.Size, pool.Active, pool.Offered, pool.Declined, pool.Reserved, pool.Free));
        Assert.Equal(0.4, pool.UsedFraction, 6);

        // The offer expires: its address is free again.
        f.Clock.Advance(f.Options.OfferLifetime);
        pool = Assert.Single(f.Engine.PoolUsage(), p => p.Name == "10.0.0.0/24");
        Assert.Equal((0, 7), (pool.Offered, pool.Free));
    }

    [Fact]
    public void ListLeases_SeveralClients_InAddressOrderWithSubnet()
    {
        var f = new EngineFixture();
        f.Dora(1);
        f.Dora(2);
        f.Dora(0x99);
        var all = f.Engine.ListLeases();
        Assert.Equal(["10.0.0.50", "10.0.0.100", "10.0.0.101"], all.Select(e => e.Lease.Address.ToString()));
        Assert.All(all, e => Assert.Equal(Ipv4Address.Parse("10.0.0.0"), e.Subnet!.Network));
        Assert.Equal("mac 52:54:00:00:00:99", all[0].Reservation!.ToString());
        Assert.Null(all[1].Reservation);
    }
}
