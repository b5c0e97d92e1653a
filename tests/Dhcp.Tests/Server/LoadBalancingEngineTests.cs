using System.Net;
using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Server;

/// <summary>
/// RFC 3074 load balancing in the engine. The fixture's MACs 52:54:00:00:00:NN fall in these buckets
/// (ClientHashTests checks the hash): 2, 3, 6, 9 and 10 in 0-127 (the primary's), 1, 4, 5, 7 and 8 in
/// 128-255 (the secondary's).
/// </summary>
public sealed class LoadBalancingEngineTests
{
    private static readonly int[] LowerMacs = [2, 3, 6, 9, 10];
    private static readonly int[] UpperMacs = [1, 4, 5, 7, 8];

    private static DhcpLease PeerLease(int mac, string address, DateTimeOffset expires) => new()
    {
        Address = Ipv4Address.Parse(address),
        ClientId = "hw:5254000000" + mac.ToString("X2", System.Globalization.CultureInfo.InvariantCulture),
        HardwareAddress = "52:54:00:00:00:" + mac.ToString("x2", System.Globalization.CultureInfo.InvariantCulture),
        State = DhcpLeaseState.Active,
        Expires = expires,
    };

    [Fact]
    public void Fixture_Macs_FallInTheBucketsNamed()
    {
        Assert.All(LowerMacs, m => Assert.True(ClientHash.Of(EngineFixture.Message(DhcpMessageType.Discover, m)) < 128));
        Assert.All(UpperMacs, m => Assert.True(ClientHash.Of(EngineFixture.Message(DhcpMessageType.Discover, m)) >= 128));
    }

    [Fact]
    public void Discover_PrimaryWithPeerAlive_AnswersItsBucketsWithEvenAddressesAndIgnoresThePeers()
    {
        var f = new EngineFixture(loadBalancing: DhcpLoadBalancingRole.Primary);
        Assert.True(f.Engine.SetPeerAlive(true));

        var granted = LowerMacs.Select(m => f.Dora(m).YourAddress).ToList();
        var ignored = UpperMacs.Select(m => f.Send(EngineFixture.Message(DhcpMessageType.Discover, m))).ToList();

        Assert.All(granted, a => Assert.Equal(0u, a.Value & 1));
        Assert.Equal(granted.Count, granted.Distinct().Count());
        Assert.All(ignored, o => Assert.Equal(DhcpDropReason.PeerClient, o.Drop));
        Assert.All(ignored, o => Assert.Null(o.Reply));
        Assert.Equal(UpperMacs.Length, f.Engine.Counters.Dropped(DhcpDropReason.PeerClient));
    }

    [Fact]
    public void Discover_SecondaryWithPeerAlive_AnswersItsBucketsWithOddAddresses()
    {
        var f = new EngineFixture(loadBalancing: DhcpLoadBalancingRole.Secondary);
        f.Engine.SetPeerAlive(true);

        var granted = UpperMacs.Select(m => f.Dora(m).YourAddress).ToList();

        Assert.All(granted, a => Assert.Equal(1u, a.Value & 1));
        Assert.All(LowerMacs, m => Assert.Equal(DhcpDropReason.PeerClient, f.Send(EngineFixture.Message(DhcpMessageType.Discover, m)).Drop));
        // An INIT-REBOOT is balanced too (RFC 3074 section 5).
        var initReboot = f.Send(EngineFixture.Message(DhcpMessageType.Request, 2, m => m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, Ipv4Address.Parse("10.0.0.100"))));
        Assert.Equal(DhcpDropReason.PeerClient, initReboot.Drop);
    }

    [Fact]
    public void Discover_PeerNeverSeen_AnswersEveryClientFromTheWholePool()
    {
        var f = new EngineFixture(loadBalancing: DhcpLoadBalancingRole.Primary);

        var first = f.Dora(1).YourAddress;
        var second = f.Dora(2).YourAddress;

        Assert.False(f.Engine.PeerAlive);
        Assert.Equal(Ipv4Address.Parse("10.0.0.100"), first);
        Assert.Equal(Ipv4Address.Parse("10.0.0.101"), second);
    }

    [Fact]
    public void SetPeerAlive_PeerGoesSilent_ReloadsWhatThePeerStoredAndKeepsItForItsClients()
    {
        var f = new EngineFixture(loadBalancing: DhcpLoadBalancingRole.Primary);
        f.Engine.SetPeerAlive(true);
        // The secondary acknowledges client 1 on .101 (its half) in the shared store.
        f.Store.Save(PeerLease(1, "10.0.0.101", f.Clock.GetUtcNow() + TimeSpan.FromHours(1)));
        var initReboot = EngineFixture.Message(DhcpMessageType.Request, 1, m => m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, Ipv4Address.Parse("10.0.0.101")));
        Assert.Equal(DhcpDropReason.PeerClient, f.Send(initReboot).Drop);

        Assert.True(f.Engine.SetPeerAlive(false));

        var ack = f.Reply(initReboot)!;
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.Equal(Ipv4Address.Parse("10.0.0.101"), ack.YourAddress);
        var others = new[] { 4, 5, 7, 8 }.Select(m => f.Dora(m).YourAddress).ToList();
        Assert.DoesNotContain(Ipv4Address.Parse("10.0.0.101"), others);
        Assert.Contains(others, a => (a.Value & 1) == 1); // the whole pool now
    }

    [Fact]
    public void SetPeerAlive_PeerBack_SplitsAgain()
    {
        var f = new EngineFixture(loadBalancing: DhcpLoadBalancingRole.Primary);
        f.Engine.SetPeerAlive(true);
        f.Engine.SetPeerAlive(false);

        Assert.True(f.Engine.SetPeerAlive(true));
        Assert.False(f.Engine.SetPeerAlive(true));

        Assert.Equal(DhcpDropReason.PeerClient, f.Send(EngineFixture.Message(DhcpMessageType.Discover, 1)).Drop);
        Assert.Equal(0u, f.Dora(2).YourAddress.Value & 1);
    }

    [Fact]
    public void Request_RenewingAPeerClientThisServerBound_IsAnswered()
    {
        var f = new EngineFixture(loadBalancing: DhcpLoadBalancingRole.Primary);
        var address = f.Dora(1).YourAddress; // bound while the peer was silent
        f.Engine.SetPeerAlive(true);

        var renew = f.Reply(EngineFixture.Message(DhcpMessageType.Request, 1, m => m.ClientAddress = address), new IPEndPoint(address.ToIPAddress(), 68))!;
        var stranger = f.Send(EngineFixture.Message(DhcpMessageType.Request, 4, m => m.ClientAddress = Ipv4Address.Parse("10.0.0.105")));

        Assert.Equal(DhcpMessageType.Ack, renew.Options.MessageType);
        Assert.Equal(address, renew.YourAddress);
        Assert.Equal(DhcpDropReason.PeerClient, stranger.Drop);
    }

    [Fact]
    public void SetPeerAlive_NoRole_ChangesNothing()
    {
        var f = new EngineFixture();

        Assert.False(f.Engine.SetPeerAlive(true));
        Assert.False(f.Engine.PeerAlive);
        Assert.Equal(Ipv4Address.Parse("10.0.0.100"), f.Dora(1).YourAddress);
        Assert.Equal(Ipv4Address.Parse("10.0.0.101"), f.Dora(2).YourAddress);
    }

    [Fact]
    public void HandleBatch_StoreRefusesTheLease_WithholdsTheAckAndOffersAnotherAddressNext()
    {
        var store = new RefusingLeaseStore();
        var f = new EngineFixture(store: store, loadBalancing: DhcpLoadBalancingRole.Primary);
        var server = new DhcpServer(f.Engine, store, new SilentTransport());
        var offered = f.Reply(EngineFixture.Message(DhcpMessageType.Discover, 2))!.YourAddress;
        // Meanwhile another server bound the same address to client 3 in the shared store.
        store.HeldElsewhere[offered.Value] = PeerLease(3, offered.ToString(), f.Clock.GetUtcNow() + TimeSpan.FromHours(1));

        var request = EngineFixture.Message(DhcpMessageType.Request, 2, m =>
        {
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, EngineFixture.Server);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, offered);
        }).ToArray();
        var replies = server.HandleBatch([new DhcpDatagram(request, request.Length, EngineFixture.FromClient, DhcpEngine.ServerPort)]);

        Assert.Empty(replies);
        Assert.Equal(1, f.Engine.Counters.Dropped(DhcpDropReason.LeaseConflict));
        Assert.Equal("52:54:00:00:00:03", f.Engine.FindLease(offered)!.Lease.HardwareAddress);
        Assert.NotEqual(offered, f.Dora(2).YourAddress);
        Assert.NotEqual(offered, f.Dora(6).YourAddress);
    }

    /// <summary>
    /// A store shared with another server, as PostgresLeaseStore behaves: a lease on an address held
    /// there by another client is refused and returned with its holder.
    /// </summary>
    private sealed class RefusingLeaseStore : ILeaseStore
    {
        private readonly InMemoryLeaseStore _inner = new();
        private readonly List<DhcpLeaseConflict> _refused = [];

        public Dictionary<uint, DhcpLease> HeldElsewhere { get; } = [];

        public IReadOnlyList<DhcpLease> LoadAll() => _inner.LoadAll();

        public void Save(DhcpLease lease)
        {
            if (HeldElsewhere.TryGetValue(lease.Address.Value, out var holder) && holder.ClientId != lease.ClientId)
            {
                _refused.Add(new DhcpLeaseConflict(lease, holder));
                return;
            }

            _inner.Save(lease);
        }

        public void Flush() => _ = FlushRefusingConflicts();

        public IReadOnlyList<DhcpLeaseConflict> FlushRefusingConflicts()
        {
            var refused = _refused.ToList();
            _refused.Clear();
            return refused;
        }

        public IReadOnlyList<DhcpLease> Snapshot() => _inner.Snapshot();

        public void Dispose() => _inner.Dispose();
    }

    private sealed class SilentTransport : IDhcpTransport
    {
        public ValueTask<DhcpDatagram> ReceiveAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public bool TryReceive(out DhcpDatagram datagram)
        {
            datagram = default;
            return false;
        }

        public void Send(ReadOnlySpan<byte> payload, IPEndPoint destination, int localPort) => throw new NotSupportedException();
    }
}
