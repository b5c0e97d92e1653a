using System.Net;
using Kldload.Dhcp.RouterDiscovery;

namespace Kldload.Dhcp.Tests.RouterDiscovery;

public class RouterAdvertiserTests
{
    private static readonly byte[] Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    private static readonly IPAddress Client = IPAddress.Parse("fe80::5054:ff:fe00:1");
    private static readonly IPAddress OtherRouter = IPAddress.Parse("fe80::1");

    private static byte[] Solicitation(bool withLinkLayerAddress = true)
    {
        var rs = new RouterSolicitation();
        if (withLinkLayerAddress)
        {
            rs.Options.AddSourceLinkLayerAddress([0x52, 0x54, 0x00, 0x00, 0x00, 0x01]);
        }

        return rs.ToArray();
    }

    private static (RouterAdvertiser Advertiser, FakeTimeProvider Clock) Create(RouterAdvertisementMode mode)
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        return (new RouterAdvertiser(new RouterAdvertiserOptions { Mode = mode, LinkLayerAddress = Mac }, clock), clock);
    }

    [Fact]
    public void Handle_SolicitationFromLinkLocal_UnicastsEmptyAdvertisementToIt()
    {
        var (advertiser, _) = Create(RouterAdvertisementMode.Auto);
        var outcome = advertiser.Handle(Solicitation(), Client);
        Assert.Null(outcome.Drop);
        Assert.Equal(Client, outcome.Destination);
        Assert.True(RouterAdvertisement.TryRead(outcome.Reply, out var ra, out var error), error.ToString());
        Assert.Equal(0, ra.RouterLifetime);
        Assert.False(ra.Managed);
        Assert.False(ra.OtherConfig);
        Assert.False(ra.Options.Contains(NdpOptionType.PrefixInformation));
        Assert.Equal(Mac, ra.Options.Get(NdpOptionType.SourceLinkLayerAddress));
        Assert.False(ra.ConfiguresHosts);
        Assert.Equal(1, advertiser.Counters.Solicitations);
        Assert.Equal(1, advertiser.Counters.AdvertisementsSent);
    }

    [Fact]
    public void Handle_SolicitationsFromUnspecified_MulticastAtMostOncePerThreeSeconds()
    {
        var (advertiser, clock) = Create(RouterAdvertisementMode.On);
        Assert.Equal(RouterAdvertiser.AllNodes, advertiser.Handle(Solicitation(false), IPAddress.IPv6Any).Destination);
        clock.Advance(TimeSpan.FromSeconds(2.9));
        var limited = advertiser.Handle(Solicitation(false), IPAddress.IPv6Any);
        Assert.Null(limited.Reply);
        Assert.Equal(RouterDiscoveryDrop.MulticastRateLimited, limited.Drop);
        Assert.NotNull(advertiser.Handle(Solicitation(), Client).Reply);
        clock.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(RouterAdvertiser.AllNodes, advertiser.Handle(Solicitation(false), IPAddress.IPv6Any).Destination);
    }

    [Theory]
    [InlineData("::", true, RouterDiscoveryDrop.UnspecifiedSourceWithLinkLayerAddress)]
    [InlineData("fd00:77::5", true, RouterDiscoveryDrop.NotLinkLocalSource)]
    [InlineData("2001:db8::1", false, RouterDiscoveryDrop.NotLinkLocalSource)]
    public void Handle_SolicitationRfc4861Invalid_NotAnswered(string source, bool withLinkLayerAddress, RouterDiscoveryDrop expected)
    {
        var (advertiser, _) = Create(RouterAdvertisementMode.On);
        var outcome = advertiser.Handle(Solicitation(withLinkLayerAddress), IPAddress.Parse(source));
        Assert.Null(outcome.Reply);
        Assert.Equal(expected, outcome.Drop);
        Assert.Equal(1, advertiser.Counters.Dropped(expected));
        Assert.Equal(0, advertiser.Counters.AdvertisementsSent);
    }

    [Fact]
    public void Handle_MalformedOrOtherIcmp_NotAnswered()
    {
        var (advertiser, _) = Create(RouterAdvertisementMode.On);
        Assert.Equal(RouterDiscoveryDrop.Malformed, advertiser.Handle([], Client).Drop);
        var cut = advertiser.Handle(Solicitation().AsSpan(0, 12), Client);
        Assert.Equal(RouterDiscoveryDrop.Malformed, cut.Drop);
        Assert.Equal(NdpReadError.OptionTruncated, cut.ReadError);
        Assert.Equal(RouterDiscoveryDrop.NotRouterDiscovery, advertiser.Handle(Convert.FromHexString("8000000000010001"), Client).Drop);
        Assert.Equal(0, advertiser.Counters.AdvertisementsSent);
    }

    [Fact]
    public void Handle_AutoAndAnotherRouterAdvertises_SilentUntilHoldTimeAfterItsLastAdvertisement()
    {
        var (advertiser, clock) = Create(RouterAdvertisementMode.Auto);
        Assert.NotNull(advertiser.Handle(Solicitation(), Client).Reply);

        var seen = advertiser.Handle(NdpCodecTests.RouterWithPrefix, OtherRouter);
        Assert.Equal(RouterDiscoveryEvent.StoppedForOtherRouter, seen.Event);
        Assert.Equal(OtherRouter, seen.OtherRouter);
        Assert.Equal(OtherRouter, advertiser.SilencedBy);
        var silent = advertiser.Handle(Solicitation(), Client);
        Assert.Null(silent.Reply);
        Assert.Equal(RouterDiscoveryDrop.OtherRouterActive, silent.Drop);

        // The router advertises again 20 min later: one log line only, and the hold restarts.
        clock.Advance(TimeSpan.FromMinutes(20));
        Assert.Equal(RouterDiscoveryEvent.None, advertiser.Handle(NdpCodecTests.RouterWithPrefix, OtherRouter).Event);
        clock.Advance(TimeSpan.FromMinutes(29));
        Assert.Equal(RouterDiscoveryDrop.OtherRouterActive, advertiser.Handle(Solicitation(), Client).Drop);

        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(advertiser.SilencedBy);
        var resumed = advertiser.Handle(Solicitation(), Client);
        Assert.Equal(RouterDiscoveryEvent.Resumed, resumed.Event);
        Assert.Equal(Client, resumed.Destination);
        Assert.Equal(2, advertiser.Counters.OtherRouterAdvertisements);
        Assert.Equal(2, advertiser.Counters.Dropped(RouterDiscoveryDrop.OtherRouterActive));
    }

    [Fact]
    public void Handle_OnAndAnotherRouterAdvertises_KeepsAnswering()
    {
        var (advertiser, _) = Create(RouterAdvertisementMode.On);
        var seen = advertiser.Handle(NdpCodecTests.RouterWithPrefix, OtherRouter);
        Assert.Equal(RouterDiscoveryEvent.None, seen.Event);
        Assert.Equal(OtherRouter, seen.OtherRouter);
        Assert.Null(advertiser.SilencedBy);
        Assert.NotNull(advertiser.Handle(Solicitation(), Client).Reply);
        Assert.Equal(1, advertiser.Counters.OtherRouterAdvertisements);
    }

    [Fact]
    public void Handle_AutoAndAnotherEmptyAdvertisement_KeepsAnswering()
    {
        // Another kldload on the segment: its advertisement configures nothing, so nothing is lost by answering too.
        var (advertiser, _) = Create(RouterAdvertisementMode.Auto);
        var other = new RouterAdvertisement();
        other.Options.AddSourceLinkLayerAddress([0x52, 0x54, 0x00, 0x99, 0x99, 0x99]);
        var seen = advertiser.Handle(other.ToArray(), OtherRouter);
        Assert.Null(seen.OtherRouter);
        Assert.Equal(1, advertiser.Counters.EmptyAdvertisements);
        Assert.NotNull(advertiser.Handle(Solicitation(), Client).Reply);
    }

    [Fact]
    public void Handle_AutoAndAdvertisementFromOffLinkSource_Ignored()
    {
        var (advertiser, _) = Create(RouterAdvertisementMode.Auto);
        var outcome = advertiser.Handle(NdpCodecTests.RouterWithPrefix, IPAddress.Parse("2001:db8::1"));
        Assert.Equal(RouterDiscoveryDrop.NotLinkLocalSource, outcome.Drop);
        Assert.NotNull(advertiser.Handle(Solicitation(), Client).Reply);
    }

    [Fact]
    public void CreateSolicitation_CarriesLinkLayerAddress()
    {
        var (advertiser, _) = Create(RouterAdvertisementMode.Auto);
        Assert.True(RouterSolicitation.TryRead(advertiser.CreateSolicitation(), out var rs, out _));
        Assert.Equal(Mac, rs.Options.Get(NdpOptionType.SourceLinkLayerAddress));
    }

    [Fact]
    public void Constructor_ModeOff_Refused() =>
        Assert.Throws<ArgumentException>(() => new RouterAdvertiser(new RouterAdvertiserOptions { Mode = RouterAdvertisementMode.Off }, TimeProvider.System));
}
