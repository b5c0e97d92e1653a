using System.Net;
using System.Net.Sockets;
using System.Text;
using Kldload.Provisioner.Listeners;

namespace Kldload.Provisioner.Tests.Listeners;

/// <summary>The one translation of bind failures, fed with failures from real sockets.</summary>
public sealed class SocketBindErrorsTests
{
    [Fact]
    public void Describe_PortTaken_SaysInUseInTheListenersWords()
    {
        using var first = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        first.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var second = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var e = Assert.Throws<SocketException>(() => second.Bind(first.LocalEndPoint!));

        Assert.Equal(SocketBindErrors.InUse, SocketBindErrors.Describe(e));
        Assert.Equal("UDP 67 is taken", SocketBindErrors.Describe(e, inUse: "UDP 67 is taken"));
        Assert.False(SocketBindErrors.IsInterfaceProblem(e));
    }

    [Fact]
    public void Describe_AddressNotOnThisHost_SaysSoAndBlamesTheInterface()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var e = Assert.Throws<SocketException>(() => s.Bind(new IPEndPoint(IPAddress.Parse("192.0.2.77"), 0)));

        Assert.Equal("the address is not on this host", SocketBindErrors.Describe(e));
        Assert.True(SocketBindErrors.IsInterfaceProblem(e));
    }

    [Fact]
    public void Describe_InterfaceGone_NamesItWhateverTheKernelSaid()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        // SO_BINDTODEVICE (SOL_SOCKET 1, option 25) with a name no interface has: ENODEV as root, EPERM
        // without CAP_NET_RAW; either way the listener names the missing interface.
        var e = Assert.Throws<SocketException>(() => s.SetRawSocketOption(1, 25, Encoding.ASCII.GetBytes("kltest-none0\0")));

        if (e.SocketErrorCode != SocketError.AccessDenied)
        {
            Assert.Equal("no such interface 'kltest-none0'", SocketBindErrors.Describe(e, iface: "kltest-none0"));
            Assert.True(SocketBindErrors.IsInterfaceProblem(e, "kltest-none0"));
        }

        Assert.Equal(e.SocketErrorCode == SocketError.AccessDenied ? SocketBindErrors.Denied : e.Message, SocketBindErrors.Describe(e, iface: "lo"));
        Assert.False(SocketBindErrors.IsInterfaceProblem(e, "lo"));
    }
}
