using System.Net;
using Kldload.Dhcp.Dhcp6.Protocol;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Server;

namespace Kldload.Agent.Tests;

/// <summary>
/// The live image's DHCPv6 client against kldload's DHCPv6 engine (no sockets): the messages it builds
/// are answered, and it accepts only answers to its own transaction that grant an address.
/// </summary>
public class Dhcp6ClientTests
{
    private static readonly byte[] Mac = [0x52, 0x54, 0x00, 0xe2, 0xe6, 0x21];
    private static readonly IPEndPoint LinkLocal = new(IPAddress.Parse("fe80::5054:ff:fee2:e621"), Dhcp6Client.ClientPort);

    private sealed class NoBoot : IDhcpBootPolicy
    {
        public BootAnswer? Decide(BootClient client) => null;
    }

    private static Dhcp6Engine Engine(string poolEnd = "fd00:77::1ff") => new(
        new Dhcp6ServerOptions
        {
            ServerDuid = Duid.FromMac([0x02, 0, 0, 0, 0, 0x01]),
            ServerAddress = IPAddress.Parse("fd00:77::1"),
            Subnets = [new Dhcp6Subnet { Prefix = IPNetwork.Parse("fd00:77::/64"), PoolStart = IPAddress.Parse("fd00:77::100"), PoolEnd = IPAddress.Parse(poolEnd) }],
        },
        new InMemoryDhcp6LeaseStore(),
        new NoBoot(),
        TimeProvider.System);

    private static Dhcp6Message Answer(Dhcp6Engine engine, Dhcp6Message m)
    {
        var outcome = engine.Handle(m.ToArray(), LinkLocal);
        Assert.True(outcome.Reply is not null, $"no answer: {outcome.Drop}");
        Assert.True(Dhcp6Message.TryRead(outcome.Reply!.Payload, out var answer, out _));
        return answer;
    }

    [Fact]
    public void Solicit_WithRapidCommit_EngineRepliesAndTheClientAcceptsTheAddress()
    {
        var engine = Engine();
        var solicit = Dhcp6Client.Solicit(Mac, 0x123456);

        var binding = Dhcp6Client.Accept(Answer(engine, solicit), Dhcp6MessageType.Reply, 0x123456, Mac, out var why);

        Assert.True(binding is not null, why);
        Assert.Equal(IPAddress.Parse("fd00:77::100"), binding!.Address);
        Assert.True(binding.ValidLifetime >= binding.PreferredLifetime && binding.ValidLifetime > 0);
        var lease = Assert.Single(engine.Leases);
        Assert.Equal("52:54:00:e2:e6:21", lease.HardwareAddress);
        Assert.Equal(Dhcp6Client.Iaid(Mac), lease.Iaid);
    }

    [Fact]
    public void Request_AfterAnAdvertise_AsksForTheOfferedAddressFromThatServer()
    {
        var engine = Engine();
        var solicit = Dhcp6Client.Solicit(Mac, 0x111111);
        solicit.Options.Remove(Dhcp6OptionCode.RapidCommit); // a server that does not commit at once
        var advertise = Answer(engine, solicit);
        Assert.Equal(Dhcp6MessageType.Advertise, advertise.MessageType);
        Assert.NotNull(Dhcp6Client.Accept(advertise, Dhcp6MessageType.Advertise, 0x111111, Mac, out _));

        var request = Dhcp6Client.Request(Mac, 0x222222, advertise);
        Assert.Equal(advertise.Options.ServerId, request.Options.ServerId);
        var binding = Dhcp6Client.Accept(Answer(engine, request), Dhcp6MessageType.Reply, 0x222222, Mac, out var why);

        Assert.True(binding is not null, why);
        Assert.Equal(advertise.Options.IaNas[0].Options.IaAddresses[0].Address, binding!.Address);
    }

    [Fact]
    public void Accept_AnotherTransactionOrClientOrAnExhaustedPool_IsRefusedWithTheReason()
    {
        var engine = Engine();
        var reply = Answer(engine, Dhcp6Client.Solicit(Mac, 0x123456));
        Assert.Null(Dhcp6Client.Accept(reply, Dhcp6MessageType.Reply, 0x654321, Mac, out var why));
        Assert.Equal("not our transaction", why);
        Assert.Null(Dhcp6Client.Accept(reply, Dhcp6MessageType.Reply, 0x123456, [0x52, 0x54, 0, 0, 0, 1], out why));
        Assert.Contains("client or server id", why, StringComparison.Ordinal);
        Assert.Null(Dhcp6Client.Accept(reply, Dhcp6MessageType.Advertise, 0x123456, Mac, out _));

        // A one-address pool already taken: the IA_NA carries NoAddrsAvail and nothing is accepted.
        var full = Engine(poolEnd: "fd00:77::100");
        Answer(full, Dhcp6Client.Solicit([0x52, 0x54, 0, 0, 0, 2], 1));
        var refused = Answer(full, Dhcp6Client.Solicit(Mac, 2));
        Assert.Null(Dhcp6Client.Accept(refused, refused.MessageType, 2, Mac, out why));
        Assert.Contains("NoAddrsAvail", why, StringComparison.Ordinal);
    }
}
