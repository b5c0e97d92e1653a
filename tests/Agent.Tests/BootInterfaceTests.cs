namespace Kldload.Agent.Tests;

public class BootInterfaceTests
{
    [Fact]
    public void DefaultRouteInterface_ProcNetRoute_ReturnsDefaultRouteDevice()
    {
        const string route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
            + "eth1\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
            + "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";

        Assert.Equal("eth0", BootInterface.DefaultRouteInterface(route));
    }

    [Fact]
    public void DefaultRouteInterface_NoDefaultRoute_ReturnsNull()
    {
        const string route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
            + "eth1\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

        Assert.Null(BootInterface.DefaultRouteInterface(route));
    }

    [Fact]
    public void DefaultRouteInterface6_RouterAdvertisedDefault_ReturnsItsDeviceNotLoopbackUnreachable()
    {
        // /proc/net/ipv6_route: the kernel's unreachable default on lo comes first and is skipped.
        const string route = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
            + "fd000077000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00040001     ens3\n"
            + "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe8000000000000000000000000000aa 00000400 00000001 00000000 00450003     ens3\n";

        Assert.Equal("ens3", BootInterface.DefaultRouteInterface6(route));
        Assert.Null(BootInterface.DefaultRouteInterface6(route.Split('\n')[0] + "\n" + route.Split('\n')[1]));
    }
}

public class BackoffTests
{
    [Fact]
    public void Next_Repeatedly_DoublesUpToTheMaximum()
    {
        var b = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4), new Random(1));
        var delays = Enumerable.Range(0, 5).Select(_ => b.Next()).ToArray();

        Assert.InRange(delays[0].TotalSeconds, 1, 1.2);
        Assert.InRange(delays[1].TotalSeconds, 2, 2.4);
        Assert.InRange(delays[2].TotalSeconds, 4, 4.8);
        Assert.InRange(delays[4].TotalSeconds, 4, 4.8);
        b.Reset();
        Assert.InRange(b.Next().TotalSeconds, 1, 1.2);
    }
}
