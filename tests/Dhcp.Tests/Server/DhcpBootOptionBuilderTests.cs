using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Server;

/// <summary>
/// The boot part of a reply alone: options 60, 66, 67, 43, 97 and 175 for each kind of client, in full
/// and proxy mode, with the answers of <see cref="FixedBootPolicy"/>.
/// </summary>
public class DhcpBootOptionBuilderTests
{
    private static readonly Ipv4Address Server = Ipv4Address.Parse("10.0.0.1");
    private static readonly byte[] Uuid = [0, .. Enumerable.Range(1, 16).Select(i => (byte)i)];

    private static DhcpBootOptionBuilder Builder(IDhcpBootPolicy? policy = null) => new(Server, policy ?? new FixedBootPolicy());

    private static DhcpMessage Request(Action<DhcpMessage> edit) => EngineFixture.Message(DhcpMessageType.Discover, 1, edit);

    private static DhcpMessage PxeUefi(params byte[] asked) => Request(m =>
    {
        m.Options.SetString(DhcpOptionCode.VendorClassIdentifier, "PXEClient:Arch:00007:UNDI:003016");
        m.Options.Set(DhcpOptionCode.ClientMachineId, Uuid);
        if (asked.Length > 0)
        {
            m.Options.Set(DhcpOptionCode.ParameterRequestList, asked);
        }
    });

    [Fact]
    public void AddProxy_PxeRom_FileVendorClassOption43AndUuid()
    {
        var request = PxeUefi();
        var reply = new DhcpMessage();
        var builder = Builder();
        var client = BootClient.From(request);

        builder.AddProxy(reply, request, client, builder.Decide(client)!);

        Assert.Equal("ipxe.efi", reply.BootFile);
        Assert.Equal("PXEClient", reply.Options.GetString(DhcpOptionCode.VendorClassIdentifier));
        Assert.Equal(PxeVendorOptions.BootFromReply(), reply.Options.Get(DhcpOptionCode.VendorSpecific));
        Assert.Equal(Uuid, reply.Options.Get(DhcpOptionCode.ClientMachineId));
        Assert.False(reply.Options.Contains(DhcpOptionCode.BootFileName));
        Assert.False(reply.Options.Contains(DhcpOptionCode.IpxeEncapsulated));
    }

    [Fact]
    public void AddProxy_AnswerWithoutVendorClass_StillSaysPxeClient()
    {
        var request = Request(m => m.Options.SetString(DhcpOptionCode.UserClass, "iPXE"));
        var reply = new DhcpMessage();
        var client = BootClient.From(request);

        Builder().AddProxy(reply, request, client, new BootAnswer { BootFile = "boot.ipxe" });

        Assert.Equal("PXEClient", reply.Options.GetString(DhcpOptionCode.VendorClassIdentifier));
        Assert.False(reply.Options.Contains(DhcpOptionCode.VendorSpecific));
    }

    [Fact]
    public void AddFullMode_PxeRomNotAskingFor43_NoOption43NoUuid()
    {
        var request = PxeUefi();
        var reply = new DhcpMessage();

        Builder().AddFullMode(reply, request, BootClient.From(request));

        Assert.Equal("ipxe.efi", reply.BootFile);
        Assert.False(reply.Options.Contains(DhcpOptionCode.VendorSpecific));
        Assert.False(reply.Options.Contains(DhcpOptionCode.ClientMachineId));
    }

    [Fact]
    public void AddFullMode_PxeRomAskingFor43_66_67_GetsThemAll()
    {
        var request = PxeUefi(43, 66, 67);
        var reply = new DhcpMessage();

        Builder().AddFullMode(reply, request, BootClient.From(request));

        Assert.True(reply.Options.Contains(DhcpOptionCode.VendorSpecific));
        Assert.Equal("10.0.0.1", reply.Options.GetString(DhcpOptionCode.TftpServerName));
        Assert.Equal("ipxe.efi", reply.Options.GetString(DhcpOptionCode.BootFileName));
    }

    [Fact]
    public void AddFullMode_Ipxe_ScriptAndNoPxeDhcp()
    {
        var request = Request(m => m.Options.SetString(DhcpOptionCode.UserClass, "iPXE"));
        var reply = new DhcpMessage();

        Builder().AddFullMode(reply, request, BootClient.From(request));

        Assert.Equal("http://10.0.0.1:8080/boot.ipxe", reply.BootFile);
        Assert.Equal(IpxeEncapsulatedOptions.NoPxeDhcpValue(), reply.Options.Get(DhcpOptionCode.IpxeEncapsulated));
    }

    [Fact]
    public void AddFullMode_PlainClient_NothingAdded()
    {
        var request = Request(_ => { });
        var reply = new DhcpMessage();

        Builder().AddFullMode(reply, request, BootClient.From(request));

        Assert.Equal(string.Empty, reply.BootFile);
        Assert.False(reply.Options.Contains(DhcpOptionCode.VendorClassIdentifier));
        Assert.False(reply.Options.Contains(DhcpOptionCode.BootFileName));
    }

    [Fact]
    public void AddProxy_BootFileLongerThanFileField_OnlyInOption67()
    {
        var longUrl = "http://10.0.0.1:8080/" + new string('a', DhcpMessage.FileLength);
        var request = PxeUefi();
        var reply = new DhcpMessage();

        Builder().AddProxy(reply, request, BootClient.From(request), new BootAnswer { BootFile = longUrl });

        Assert.Equal(string.Empty, reply.BootFile);
        Assert.Equal(longUrl, reply.Options.GetString(DhcpOptionCode.BootFileName));
    }
}
