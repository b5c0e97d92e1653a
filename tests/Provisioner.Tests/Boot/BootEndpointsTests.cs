using System.Net;
using Kldload.Provisioner.Boot;

namespace Kldload.Provisioner.Tests.Boot;

public class BootEndpointsTests
{
    [Theory]
    [InlineData("fd00:77::100", true)]
    [InlineData("2001:db8::5", true)]
    [InlineData("10.77.0.100", false)]
    [InlineData("::ffff:10.77.0.100", false)] // an IPv4 client on a dual-stack socket
    [InlineData("::1", false)] // loopback: a test or an operator's curl, not a booting node
    public void BootedOverIpv6_ByTheScriptRequestsSource_OnlyForARealIpv6Client(string remote, bool expected) =>
        Assert.Equal(expected, BootEndpoints.BootedOverIpv6(IPAddress.Parse(remote)));

    [Fact]
    public void BootedOverIpv6_NoRemoteAddress_IsIpv4() => Assert.False(BootEndpoints.BootedOverIpv6(null));
}
