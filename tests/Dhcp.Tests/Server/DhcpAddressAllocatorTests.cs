using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Server;

/// <summary>
/// The allocator alone, without the state machine: pool walk, held offers, reservations, addresses
/// never pooled, grants, declines and the indexes rebuilt from the store. Subnet 0 is 10.0.0.0/24 with
/// pool .100-.109 (see <see cref="EngineFixture"/>).
/// </summary>
public class DhcpAddressAllocatorTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset OfferEnds = Now.AddMinutes(1);

    private static Ipv4Address A(string text) => Ipv4Address.Parse(text);

    private static DhcpMessage Discover(int mac, Action<DhcpMessage>? edit = null) => EngineFixture.Message(DhcpMessageType.Discover, mac, edit);

    private static DhcpAddressAllocator Allocator(int poolEnd = 109, ILeaseStore? store = null)
    {
        var options = new EngineFixture(poolEnd: poolEnd).Options;
        return new DhcpAddressAllocator(options, new ReservationBook(options.Reservations), store ?? new InMemoryLeaseStore());
    }

    private static DhcpLease Lease(string address, string clientId, DateTimeOffset expires, DhcpLeaseState state = DhcpLeaseState.Active) => new()
    {
        Address = A(address),
        ClientId = clientId,
        HardwareAddress = "52:54:00:00:00:01",
        State = state,
        Expires = expires,
    };

    [Fact]
    public void Offer_NewClients_WalkThePoolFromItsStart()
    {
        var allocator = Allocator();
        Assert.Equal(A("10.0.0.100"), allocator.Offer(Discover(1), "c1", 0, Now, OfferEnds));
        Assert.Equal(A("10.0.0.101"), allocator.Offer(Discover(2), "c2", 0, Now, OfferEnds));
        Assert.Equal(2, allocator.PendingOfferCount(Now));
    }

    [Fact]
    public void Offer_SameClientAgain_ReturnsItsHeldOffer()
    {
        var allocator = Allocator();
        var first = allocator.Offer(Discover(1), "c1", 0, Now, OfferEnds);
        Assert.Equal(first, allocator.Offer(Discover(1), "c1", 0, Now, OfferEnds));
        Assert.Equal(1, allocator.PendingOfferCount(Now));
    }

    [Fact]
    public void Offer_OfferExpired_AddressGoesToTheNextClient()
    {
        var allocator = Allocator(poolEnd: 100);
        Assert.Equal(A("10.0.0.100"), allocator.Offer(Discover(1), "c1", 0, Now, OfferEnds));
        Assert.Null(allocator.Offer(Discover(2), "c2", 0, Now, OfferEnds));
        Assert.Equal(A("10.0.0.100"), allocator.Offer(Discover(2), "c2", 0, OfferEnds, OfferEnds.AddMinutes(1)));
    }

    [Fact]
    public void Offer_RequestedFreeAddress_IsHonoured()
    {
        var allocator = Allocator();
        var request = Discover(1, m => m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, A("10.0.0.105")));
        Assert.Equal(A("10.0.0.105"), allocator.Offer(request, "c1", 0, Now, OfferEnds));
    }

    [Fact]
    public void Offer_RequestedAddressOutsidePool_WalksThePoolInstead()
    {
        var allocator = Allocator();
        var request = Discover(1, m => m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, A("10.0.0.50")));
        Assert.Equal(A("10.0.0.100"), allocator.Offer(request, "c1", 0, Now, OfferEnds));
    }

    [Fact]
    public void Offer_ReservedClient_GetsItsReservationOnItsSubnetOnly()
    {
        var allocator = Allocator();
        var reserved = Discover(0x99);
        Assert.Equal(A("10.0.0.50"), allocator.Offer(reserved, "r", 0, Now, OfferEnds));
        Assert.Null(allocator.Offer(reserved, "r", 1, Now, OfferEnds));
    }

    [Fact]
    public void Offer_PoolExhausted_ReturnsNull()
    {
        var allocator = Allocator(poolEnd: 101);
        Assert.NotNull(allocator.Offer(Discover(1), "c1", 0, Now, OfferEnds));
        Assert.NotNull(allocator.Offer(Discover(2), "c2", 0, Now, OfferEnds));
        Assert.Null(allocator.Offer(Discover(3), "c3", 0, Now, OfferEnds));
    }

    [Theory]
    [InlineData("10.0.0.1")] // the server and the router
    [InlineData("10.0.0.0")] // the network
    [InlineData("10.0.0.255")] // the broadcast address
    [InlineData("10.1.0.1")] // the other subnet's router
    [InlineData("10.0.0.50")] // reserved
    public void IsFree_AddressNeverPooled_False(string address) =>
        Assert.False(Allocator().IsFree(A(address), "c1", Now));

    [Fact]
    public void IsFree_OfferedToAnotherClient_FalseForOthersTrueForHolder()
    {
        var allocator = Allocator();
        var offered = allocator.Offer(Discover(1), "c1", 0, Now, OfferEnds)!.Value;
        Assert.False(allocator.IsFree(offered, "c2", Now));
        Assert.True(allocator.IsFree(offered, "c1", Now));
        Assert.True(allocator.HeldByOther(offered, "c2", Now));
    }

    [Fact]
    public void Grant_ClientMovesToAnotherAddress_OldLeaseReleasedAndOfferEnds()
    {
        var store = new InMemoryLeaseStore();
        var allocator = Allocator(store: store);
        allocator.Grant(Lease("10.0.0.100", "c1", Now.AddHours(1)), Now);
        Assert.Equal(A("10.0.0.100"), allocator.Offer(Discover(1), "c1", 0, Now, OfferEnds));
        Assert.Equal(1, allocator.PendingOfferCount(Now));

        allocator.Grant(Lease("10.0.0.103", "c1", Now.AddHours(1)), Now);

        Assert.True(allocator.TryGetLease(A("10.0.0.100"), out var old));
        Assert.Equal(DhcpLeaseState.Released, old.State);
        Assert.True(allocator.LastAddressOf("c1", A("10.0.0.103")));
        Assert.Equal(0, allocator.PendingOfferCount(Now));
        Assert.Equal(1, allocator.ActiveLeaseCount(Now));
        Assert.Equal(2, store.LoadAll().Count());
    }

    [Fact]
    public void Decline_Address_HeldUntilTheHoldEndsAndForgottenByTheClient()
    {
        var allocator = Allocator();
        allocator.Grant(Lease("10.0.0.100", "c1", Now.AddHours(1)), Now);
        allocator.TryGetLease(A("10.0.0.100"), out var lease);

        allocator.Decline(lease, Now.AddMinutes(10));

        Assert.False(allocator.LastAddressOf("c1", A("10.0.0.100")));
        Assert.False(allocator.IsFree(A("10.0.0.100"), "c1", Now));
        Assert.Equal(A("10.0.0.101"), allocator.Offer(Discover(1), "c1", 0, Now, OfferEnds));
        Assert.True(allocator.IsFree(A("10.0.0.100"), "c2", Now.AddMinutes(10)));
        Assert.Equal(DhcpLeaseStatus.Declined, allocator.Describe(allocator.CopyLeases().Single(l => l.Address == A("10.0.0.100")), Now).Status);
    }

    [Fact]
    public void Constructor_StoredLeases_ClientGetsItsPreviousAddressBack()
    {
        var store = new InMemoryLeaseStore();
        store.Save(Lease("10.0.0.107", "c1", Now.AddMinutes(-5), DhcpLeaseState.Released));
        var allocator = Allocator(store: store);

        Assert.True(allocator.LastAddressOf("c1", A("10.0.0.107")));
        Assert.Equal(A("10.0.0.107"), allocator.Offer(Discover(1), "c1", 0, Now, OfferEnds));
    }

    [Fact]
    public void ReleaseByOperator_ActiveLease_ReturnsItAsItWasAndFreesTheAddress()
    {
        var allocator = Allocator();
        allocator.Grant(Lease("10.0.0.100", "c1", Now.AddHours(1)), Now);

        var before = allocator.ReleaseByOperator(A("10.0.0.100"), Now);

        Assert.Equal(DhcpLeaseStatus.Active, before!.Status);
        Assert.True(allocator.IsFree(A("10.0.0.100"), "c2", Now));
        Assert.Null(allocator.ReleaseByOperator(A("10.0.0.100"), Now));
    }

    [Fact]
    public void PoolUsage_LeaseOfferAndDecline_EachCountedOnce()
    {
        var allocator = Allocator();
        allocator.Grant(Lease("10.0.0.100", "c1", Now.AddHours(1)), Now);
        allocator.Grant(Lease("10.0.0.101", "c2", Now.AddHours(1)), Now);
        allocator.TryGetLease(A("10.0.0.101"), out var declined);
        allocator.Decline(declined, Now.AddMinutes(10));
        allocator.Offer(Discover(3), "c3", 0, Now, OfferEnds);

        var usage = allocator.PoolUsage(Now)[0];

        Assert.Equal((10, 1, 1, 1, 0), (usage.Size, usage.Active, usage.Offered, usage.Declined, usage.Reserved));
    }

    [Theory]
    [InlineData("10.0.0.77", 0)]
    [InlineData("10.1.0.1", 1)]
    [InlineData("10.9.0.1", -1)]
    public void FindSubnet_LinkAddress_IndexOfItsSubnet(string link, int expected) =>
        Assert.Equal(expected, Allocator().FindSubnet(A(link)));
}
