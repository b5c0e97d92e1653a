using System.Text;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Server;

/// <summary>Reservations by MAC, client id and relay option 82, and their precedence.</summary>
public class ReservationTests
{
    private static readonly Ipv4Address Relay = Ipv4Address.Parse("10.1.0.1");
    private static readonly Ipv4Address Slot7 = Ipv4Address.Parse("10.1.0.57");

    private static DhcpReservation Circuit(string circuit, Ipv4Address address) =>
        new() { Address = address, CircuitId = RelayIdMatch.ExactValue(Encoding.ASCII.GetBytes(circuit)) };

    private static Action<DhcpMessage> RelayedFrom(string circuit, string? remote = null) => m =>
    {
        m.RelayAddress = Relay;
        m.Hops = 1;
        m.Options.Set(DhcpOptionCode.RelayAgentInformation, RelayAgentInformation.Create(Encoding.ASCII.GetBytes(circuit), remote is null ? null : Encoding.ASCII.GetBytes(remote)).Raw);
    };

    [Fact]
    public void Dora_TwoMacsRelayedOnOneCircuit_BothGetTheCircuitsAddressOneAfterTheOther()
    {
        var f = new EngineFixture(reservations: [Circuit("rack12/slot7", Slot7)]);
        Assert.Equal(Slot7, f.Dora(1, RelayedFrom("rack12/slot7")).YourAddress);

        // The machine is swapped; the old one never released its lease. The position's address follows the slot.
        Assert.Equal(Slot7, f.Dora(2, RelayedFrom("rack12/slot7")).YourAddress);
        var lease = f.Engine.FindLease(Slot7)!;
        Assert.Equal("52:54:00:00:00:02", lease.Lease.HardwareAddress);
        Assert.Equal(DhcpLeaseStatus.Active, lease.Status);
        Assert.Equal("circuit-id rack12/slot7", lease.Reservation!.ToString());

        // Another slot on the same relay gets a pool address.
        Assert.Equal(Ipv4Address.Parse("10.1.0.10"), f.Dora(3, RelayedFrom("rack12/slot8")).YourAddress);
    }

    [Fact]
    public void Dora_UnrelayedClientSendingOption82_GetsPoolAddressAndOption82IsNotStored()
    {
        var reserved = Ipv4Address.Parse("10.0.0.57");
        var f = new EngineFixture(reservations: [Circuit("rack12/slot7", reserved)]);
        var ack = f.Dora(1, m => m.Options.Set(DhcpOptionCode.RelayAgentInformation, RelayAgentInformation.Create("rack12/slot7"u8.ToArray(), null).Raw));
        Assert.Equal(Ipv4Address.Parse("10.0.0.100"), ack.YourAddress);
        Assert.Null(f.Engine.FindLease(ack.YourAddress)!.Lease.RelayAgentInformation);
        Assert.Null(f.Engine.FindLease(reserved));
    }

    [Fact]
    public void Dora_ReservedAddressRequestedByAnotherClient_IsNaked()
    {
        var f = new EngineFixture(reservations: [Circuit("rack12/slot7", Slot7)]);
        var nak = f.Reply(EngineFixture.Message(DhcpMessageType.Request, 4, m =>
        {
            RelayedFrom("rack12/slot8")(m);
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, EngineFixture.Server);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, Slot7);
        }))!;
        Assert.Equal(DhcpMessageType.Nak, nak.Options.MessageType);
    }

    [Fact]
    public void Find_AllKindsMatch_MacWinsThenClientIdThenOption82()
    {
        var clientId = new byte[] { 1, 0x52, 0x54, 0, 0, 0, 7 };
        var byMac = DhcpReservation.ForHardwareAddress("52:54:00:00:00:07", Ipv4Address.Parse("10.1.0.71"));
        var byId = new DhcpReservation { ClientId = clientId, Address = Ipv4Address.Parse("10.1.0.72") };
        var byCircuit = Circuit("rack12/slot7", Ipv4Address.Parse("10.1.0.73"));
        DhcpMessage Request(int mac) => EngineFixture.Message(DhcpMessageType.Discover, mac, m =>
        {
            RelayedFrom("rack12/slot7")(m);
            m.Options.Set(DhcpOptionCode.ClientIdentifier, clientId);
        });

        // Configuration order must not matter: precedence is by kind.
        var book = new ReservationBook([byCircuit, byId, byMac]);
        Assert.Same(byMac, book.Find(Request(7)));
        Assert.Same(byId, book.Find(Request(8)));
        Assert.Same(byCircuit, new ReservationBook([byCircuit, byMac]).Find(Request(8)));
    }

    [Fact]
    public void Find_ExactAndPatternBothMatch_ExactWinsThenConfigurationOrder()
    {
        var pattern = new DhcpReservation { Address = Ipv4Address.Parse("10.1.0.80"), CircuitId = RelayIdMatch.Glob("rack12/*") };
        var pattern2 = new DhcpReservation { Address = Ipv4Address.Parse("10.1.0.81"), CircuitId = RelayIdMatch.Glob("rack1?/slot7") };
        var exact = Circuit("rack12/slot7", Ipv4Address.Parse("10.1.0.82"));
        var book = new ReservationBook([pattern, pattern2, exact]);
        var request = EngineFixture.Message(DhcpMessageType.Discover, 1, RelayedFrom("rack12/slot7"));
        Assert.Same(exact, book.Find(request));
        Assert.Same(pattern, new ReservationBook([pattern, pattern2]).Find(request));
        Assert.Same(pattern2, new ReservationBook([pattern2, pattern]).Find(request));
        Assert.Null(book.Find(EngineFixture.Message(DhcpMessageType.Discover, 1, RelayedFrom("rack13/slot8"))));
    }

    [Fact]
    public void Find_CircuitAndRemoteGiven_BothMustMatch()
    {
        var both = new DhcpReservation
        {
            Address = Ipv4Address.Parse("10.1.0.90"),
            CircuitId = RelayIdMatch.ExactValue("Gi1/0/7"u8.ToArray()),
            RemoteId = RelayIdMatch.Glob("sw-rack12*"),
        };
        var book = new ReservationBook([both]);
        Assert.Same(both, book.Find(EngineFixture.Message(DhcpMessageType.Discover, 1, RelayedFrom("Gi1/0/7", "sw-rack12-a"))));
        Assert.Null(book.Find(EngineFixture.Message(DhcpMessageType.Discover, 1, RelayedFrom("Gi1/0/7", "sw-rack13-a"))));
        Assert.Null(book.Find(EngineFixture.Message(DhcpMessageType.Discover, 1, RelayedFrom("Gi1/0/7"))));
    }

    [Theory]
    [InlineData("rack12/*", "rack12/slot7", true)]
    [InlineData("rack12/*", "rack12/", true)]
    [InlineData("rack12/*", "rack1/slot7", false)]
    [InlineData("*slot7", "rack12/slot7", true)]
    [InlineData("*slot7", "rack12/slot70", false)]
    [InlineData("r?ck*/s*7", "rack12/slot7", true)]
    [InlineData("a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false)]
    [InlineData("", "", true)]
    [InlineData("?", "", false)]
    public void GlobMatches_Patterns_MatchAsGlob(string pattern, string text, bool expected) =>
        Assert.Equal(expected, RelayIdMatch.GlobMatches(pattern, text));

    [Fact]
    public void Describe_BinaryAndText_TextOnlyWhenPrintable()
    {
        Assert.Equal("Gi1/0/7", RelayIdMatch.Describe("Gi1/0/7"u8.ToArray()));
        Assert.Equal("hex:0004000a0001", RelayIdMatch.Describe([0, 4, 0, 10, 0, 1]));
    }
}
