using System.Net;
using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Server;

/// <summary>A boot policy with fixed answers, enough to see that the engine asks and uses it.</summary>
internal sealed class FixedBootPolicy : IDhcpBootPolicy
{
    public BootAnswer? Decide(BootClient client) => client switch
    {
        { IsIpxe: true } => new BootAnswer { BootFile = "http://10.0.0.1:8080/boot.ipxe" },
        { IsHttpClient: true } => new BootAnswer { BootFile = "http://10.0.0.1:8080/tftp/ipxe.efi", VendorClass = "HTTPClient" },
        { IsPxeClient: true, Architecture: ClientArchitecture.X86Bios } => new BootAnswer { BootFile = "undionly.kpxe", VendorClass = "PXEClient" },
        { IsPxeClient: true } => new BootAnswer { BootFile = "ipxe.efi", VendorClass = "PXEClient" },
        { RequestsBootFile: true } => new BootAnswer { BootFile = "undionly.kpxe" },
        _ => null,
    };
}

/// <summary>An engine on 10.0.0.0/24 (pool .100-.109) and a relayed 10.1.0.0/24 (pool .10-.19).</summary>
internal sealed class EngineFixture
{
    public static readonly Ipv4Address Server = Ipv4Address.Parse("10.0.0.1");
    public static readonly IPEndPoint FromClient = new(IPAddress.Any, DhcpEngine.ClientPort);

    public EngineFixture(DhcpServerMode mode = DhcpServerMode.Full, int poolEnd = 109, ILeaseStore? store = null, int maxOffers = 16384, IEnumerable<DhcpReservation>? reservations = null, TimeSpan? declineHoldTime = null,
        DhcpLoadBalancingRole loadBalancing = DhcpLoadBalancingRole.None)
    {
        Store = store ?? new InMemoryLeaseStore();
        Options = new DhcpServerOptions
        {
            Mode = mode,
            ServerAddress = Server,
            MaxPendingOffers = maxOffers,
            DeclineHoldTime = declineHoldTime ?? TimeSpan.FromMinutes(10),
            LoadBalancing = loadBalancing,
            Subnets =
            [
                new DhcpSubnet
                {
                    Network = Ipv4Address.Parse("10.0.0.0"), PrefixLength = 24,
                    PoolStart = Ipv4Address.Parse("10.0.0.100"), PoolEnd = Ipv4Address.Parse($"10.0.0.{poolEnd}"),
                    Router = Server, DnsServers = [Server], DomainName = "rack.test", LeaseTime = TimeSpan.FromHours(1),
                },
                new DhcpSubnet
                {
                    Network = Ipv4Address.Parse("10.1.0.0"), PrefixLength = 24,
                    PoolStart = Ipv4Address.Parse("10.1.0.10"), PoolEnd = Ipv4Address.Parse("10.1.0.19"),
                    Router = Ipv4Address.Parse("10.1.0.1"), LeaseTime = TimeSpan.FromMinutes(10),
                },
            ],
            Reservations = [DhcpReservation.ForHardwareAddress("52:54:00:00:00:99", Ipv4Address.Parse("10.0.0.50"), "node99"), .. reservations ?? []],
        };
        Engine = new DhcpEngine(Options, Store, new FixedBootPolicy(), Clock);
    }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public ILeaseStore Store { get; }

    public DhcpServerOptions Options { get; }

    public DhcpEngine Engine { get; }

    public static DhcpMessage Message(DhcpMessageType type, int mac, Action<DhcpMessage>? edit = null)
    {
        var m = new DhcpMessage { TransactionId = (uint)(0x1000 + mac) };
        m.ClientHardwareAddress[0] = 0x52;
        m.ClientHardwareAddress[1] = 0x54;
        m.ClientHardwareAddress[4] = (byte)(mac >> 8);
        m.ClientHardwareAddress[5] = (byte)mac;
        m.Options.MessageType = type;
        edit?.Invoke(m);
        return m;
    }

    public DhcpOutcome Send(DhcpMessage m, IPEndPoint? from = null, int localPort = DhcpEngine.ServerPort)
        => Engine.Handle(m.ToArray(), new DhcpReceiveContext(from ?? FromClient, localPort));

    public DhcpMessage? Reply(DhcpMessage m, IPEndPoint? from = null, int localPort = DhcpEngine.ServerPort)
    {
        var outcome = Send(m, from, localPort);
        if (outcome.Reply is null)
        {
            return null;
        }

        Assert.True(DhcpMessage.TryRead(outcome.Reply.Payload, out var reply, out var error), error.ToString());
        return reply;
    }

    /// <summary>DISCOVER, OFFER, REQUEST, ACK; returns the ACK.</summary>
    public DhcpMessage Dora(int mac, Action<DhcpMessage>? edit = null)
    {
        var offer = Reply(Message(DhcpMessageType.Discover, mac, edit))!;
        Assert.Equal(DhcpMessageType.Offer, offer.Options.MessageType);
        var ack = Reply(Message(DhcpMessageType.Request, mac, m =>
        {
            edit?.Invoke(m);
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, Server);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, offer.YourAddress);
        }))!;
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.Equal(offer.YourAddress, ack.YourAddress);
        return ack;
    }
}
