using System.Net;
using System.Text;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Server;

/// <summary>
/// Every option a client (or its relay) controls and the lease keeps or the boot policy reads, at the
/// sizes one option can carry and beyond (RFC 3396 concatenation): leased whole, or dropped and counted.
/// </summary>
public sealed class ClientControlledFieldTests
{
    private static readonly IPEndPoint FromRelay = new(IPAddress.Parse("10.1.0.1"), DhcpEngine.ServerPort);

    private static byte[] Bytes(int length, byte seed = 1) => Enumerable.Range(0, length).Select(i => (byte)(seed + i)).ToArray();

    [Theory]
    [InlineData(1)]
    [InlineData(125)]
    [InlineData(126)]
    [InlineData(200)]
    [InlineData(255)]
    public void Dora_ClientIdUpTo255Bytes_IsLeasedWithTheWholeId(int length)
    {
        var f = new EngineFixture();
        var id = Bytes(length);
        var ack = f.Dora(1, m => m.Options.Set(DhcpOptionCode.ClientIdentifier, id));
        var lease = Assert.Single(f.Store.LoadAll());
        Assert.Equal(ack.YourAddress, lease.Address);
        Assert.Equal("id:" + Convert.ToHexString(id), lease.ClientId);
    }

    [Fact]
    public void Discover_ConcatenatedClientIdOver255Bytes_IsDroppedAndCounted()
    {
        var f = new EngineFixture();
        var discover = EngineFixture.Message(DhcpMessageType.Discover, 1, m => m.Options.Set(DhcpOptionCode.ClientIdentifier, Bytes(256)));
        Assert.Equal(DhcpDropReason.OversizedOption, f.Send(discover).Drop);
        var request = EngineFixture.Message(DhcpMessageType.Request, 1, m =>
        {
            m.Options.Set(DhcpOptionCode.ClientIdentifier, Bytes(600));
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, EngineFixture.Server);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, Ipv4Address.Parse("10.0.0.100"));
        });
        Assert.Equal(DhcpDropReason.OversizedOption, f.Send(request).Drop);
        Assert.Equal(2, f.Engine.Counters.Dropped(DhcpDropReason.OversizedOption));
        Assert.Empty(f.Store.LoadAll());
    }

    [Fact]
    public void Dora_HostNameAndOption82Of255Bytes_AreStoredWhole()
    {
        var f = new EngineFixture();
        var host = new string('h', 255);
        var info = RelayAgentInformation.Create(Bytes(120), Bytes(131)).Raw;
        Assert.Equal(255, info.Length);
        void Edit(DhcpMessage m)
        {
            m.RelayAddress = Ipv4Address.Parse("10.1.0.1");
            m.Options.SetUInt16(DhcpOptionCode.MaximumMessageSize, 1472);
            m.Options.SetString(DhcpOptionCode.HostName, host);
            m.Options.Set(DhcpOptionCode.RelayAgentInformation, info);
        }

        var offer = f.Reply(EngineFixture.Message(DhcpMessageType.Discover, 1, Edit), FromRelay)!;
        var ack = f.Reply(EngineFixture.Message(DhcpMessageType.Request, 1, m =>
        {
            Edit(m);
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, EngineFixture.Server);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, offer.YourAddress);
        }), FromRelay)!;
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        var lease = Assert.Single(f.Store.LoadAll());
        Assert.Equal(host, lease.HostName);
        Assert.Equal(info, lease.RelayAgentInformation);
        Assert.Equal(info, ack.Options.Get(DhcpOptionCode.RelayAgentInformation));
    }

    [Fact]
    public void Request_ConcatenatedHostNameOver255Bytes_IsDroppedAndCounted()
    {
        var f = new EngineFixture();
        var offer = f.Reply(EngineFixture.Message(DhcpMessageType.Discover, 1))!;
        var request = EngineFixture.Message(DhcpMessageType.Request, 1, m =>
        {
            m.Options.SetString(DhcpOptionCode.HostName, new string('h', 256));
            m.Options.SetAddress(DhcpOptionCode.ServerIdentifier, EngineFixture.Server);
            m.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, offer.YourAddress);
        });
        Assert.Equal(DhcpDropReason.OversizedOption, f.Send(request).Drop);
        Assert.Equal(1, f.Engine.Counters.Dropped(DhcpDropReason.OversizedOption));
        Assert.Empty(f.Store.LoadAll());
    }

    [Fact]
    public void Discover_RelayedConcatenatedOption82Over255Bytes_IsDroppedAndCounted()
    {
        var f = new EngineFixture();
        var discover = EngineFixture.Message(DhcpMessageType.Discover, 1, m =>
        {
            m.RelayAddress = Ipv4Address.Parse("10.1.0.1");
            m.Options.Set(DhcpOptionCode.RelayAgentInformation, [.. RelayAgentInformation.Create(Bytes(200), null).Raw, .. RelayAgentInformation.Create(null, Bytes(100)).Raw]);
        });
        Assert.Equal(DhcpDropReason.OversizedOption, f.Send(discover, FromRelay).Drop);
        Assert.Equal(1, f.Engine.Counters.Dropped(DhcpDropReason.OversizedOption));
    }

    [Fact]
    public void Dora_MalformedOption82SubOptions_IsLeasedStoredRawAndEchoed()
    {
        // Sub-option 1 claims 200 bytes and has 3: not parseable, but it is the relay's to interpret.
        var f = new EngineFixture();
        byte[] info = [1, 200, 1, 2, 3];
        var offer = f.Reply(EngineFixture.Message(DhcpMessageType.Discover, 1, m =>
        {
            m.RelayAddress = Ipv4Address.Parse("10.1.0.1");
            m.Options.Set(DhcpOptionCode.RelayAgentInformation, info);
        }), FromRelay)!;
        Assert.Equal(info, offer.Options.Get(DhcpOptionCode.RelayAgentInformation));
        Assert.Null(offer.Options.RelayAgentInformation);
    }

    [Theory]
    [InlineData(255)]
    [InlineData(600)]
    public void Dora_LongVendorClassAndUserClass_AreAnsweredAndNotStored(int length)
    {
        // Options 60 and 77 feed only the boot policy; long or malformed values must not break it.
        var f = new EngineFixture();
        var ack = f.Dora(1, m =>
        {
            m.Options.SetString(DhcpOptionCode.VendorClassIdentifier, "PXEClient:" + new string('v', length - 10));
            m.Options.Set(DhcpOptionCode.UserClass, [.. Encoding.ASCII.GetBytes("iPXE"), .. Bytes(length - 4, 0)]);
        });
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.Single(f.Store.LoadAll());
        Assert.Equal(0, f.Engine.Counters.Dropped(DhcpDropReason.OversizedOption));
    }
}
