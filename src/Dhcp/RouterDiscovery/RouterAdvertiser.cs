using System.Net;

namespace Kldload.Dhcp.RouterDiscovery;

/// <summary>When kldload answers router solicitations (<c>Dhcp:RouterAdvertisements</c>).</summary>
public enum RouterAdvertisementMode
{
    /// <summary>Never: no socket is opened.</summary>
    Off,

    /// <summary>Always, even while another router advertises on the segment.</summary>
    On,

    /// <summary>Only while no other router has advertised anything on the segment recently.</summary>
    Auto,
}

/// <summary>What the advertiser needs, built by the host from its settings and the interface.</summary>
public sealed record RouterAdvertiserOptions
{
    /// <summary><see cref="RouterAdvertisementMode.On"/> or <see cref="RouterAdvertisementMode.Auto"/>.</summary>
    public required RouterAdvertisementMode Mode { get; init; }

    /// <summary>The interface's Ethernet address for the Source Link-Layer Address option; empty = none.</summary>
    public byte[] LinkLayerAddress { get; init; } = [];

    /// <summary>
    /// In Auto mode, how long after another router's last advertisement kldload stays silent. 30 min is
    /// RFC 4861's largest MaxRtrAdvInterval (section 6.2.1, 1800 s): a router that is still there
    /// advertises again within it, and every advertisement restarts the hold.
    /// </summary>
    public TimeSpan OtherRouterHoldTime { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Multicast answers are at most one per this interval (RFC 4861 section 10, MIN_DELAY_BETWEEN_RAS).</summary>
    public TimeSpan MinMulticastInterval { get; init; } = TimeSpan.FromSeconds(3);
}

/// <summary>Why a router discovery message got no answer.</summary>
public enum RouterDiscoveryDrop : byte
{
    /// <summary>Not a valid RS or RA (see <see cref="NdpReadError"/>).</summary>
    Malformed,

    /// <summary>Neither RS nor RA (the socket filter normally keeps these out).</summary>
    NotRouterDiscovery,

    /// <summary>
    /// The source is not link-local (nor unspecified, for an RS). RFC 4861 sections 6.1.1 and 6.1.2
    /// also require hop limit 255; a link-local source is the on-link proof here, since routers never
    /// forward link-local sources (RFC 4291 section 2.5.6).
    /// </summary>
    NotLinkLocalSource,

    /// <summary>An RS from the unspecified address with a Source Link-Layer Address option (RFC 4861 section 6.1.1).</summary>
    UnspecifiedSourceWithLinkLayerAddress,

    /// <summary>Auto mode: another router advertised recently; it answers, kldload stays out of the way.</summary>
    OtherRouterActive,

    /// <summary>A multicast answer went out less than <see cref="RouterAdvertiserOptions.MinMulticastInterval"/> ago.</summary>
    MulticastRateLimited,
}

/// <summary>A change worth one log line.</summary>
public enum RouterDiscoveryEvent : byte
{
    None,

    /// <summary>Auto mode: another router advertised; kldload stops answering.</summary>
    StoppedForOtherRouter,

    /// <summary>Auto mode: no other router for the hold time; kldload answers again.</summary>
    Resumed,
}

/// <summary>
/// What the advertiser did with one message: an advertisement to send to <see cref="Destination"/>,
/// or nothing and why. <see cref="OtherRouter"/> is the source of an advertisement that configures hosts.
/// </summary>
public sealed record RouterDiscoveryOutcome(
    NdpMessageType? Type,
    byte[]? Reply,
    IPAddress? Destination,
    RouterDiscoveryDrop? Drop,
    NdpReadError ReadError,
    RouterDiscoveryEvent Event,
    IPAddress? OtherRouter);

/// <summary>Monotonic counts for metrics, read at scrape time.</summary>
public sealed class RouterDiscoveryCounters
{
    private long _solicitations;
    private long _advertisementsSent;
    private long _otherRouterAdvertisements;
    private long _emptyAdvertisements;
    private readonly long[] _dropped = new long[Enum.GetValues<RouterDiscoveryDrop>().Length];

    /// <summary>Valid router solicitations received.</summary>
    public long Solicitations => Interlocked.Read(ref _solicitations);

    /// <summary>Advertisements built for sending.</summary>
    public long AdvertisementsSent => Interlocked.Read(ref _advertisementsSent);

    /// <summary>Advertisements from other routers that configure hosts.</summary>
    public long OtherRouterAdvertisements => Interlocked.Read(ref _otherRouterAdvertisements);

    /// <summary>Advertisements from other sources that configure nothing (another kldload, say).</summary>
    public long EmptyAdvertisements => Interlocked.Read(ref _emptyAdvertisements);

    public long Dropped(RouterDiscoveryDrop reason) => Interlocked.Read(ref _dropped[(int)reason]);

    internal void CountSolicitation() => Interlocked.Increment(ref _solicitations);

    internal void CountSent() => Interlocked.Increment(ref _advertisementsSent);

    internal void CountOtherRouter() => Interlocked.Increment(ref _otherRouterAdvertisements);

    internal void CountEmpty() => Interlocked.Increment(ref _emptyAdvertisements);

    internal void CountDropped(RouterDiscoveryDrop reason) => Interlocked.Increment(ref _dropped[(int)reason]);
}

/// <summary>
/// Answers IPv6 router solicitations on a segment that has no IPv6 router, so that netboot clients
/// stop soliciting. iPXE's IPv6 autoconfiguration (its <c>ipv6</c> net device configurator) ends on the
/// first router advertisement it hears while it solicits: with M and O clear it finishes at once
/// without DHCPv6, with router lifetime 0 it takes no IPv6 gateway, and with no prefix option it
/// takes no address. Without any advertisement it gives up only after its solicitations back off
/// (about 13 s), and only then reports the interface configured. The advertisement sent here is that
/// empty one: hop limit, reachable time and retransmission timer unspecified (0), lifetime 0, no
/// prefix, M = O = 0, and the interface's link-layer address; it changes nothing on any host.
/// <para>
/// A solicitation from a link-local address is answered by unicast to it (RFC 4861 section 6.2.6
/// allows this), one from the unspecified address by a multicast to all nodes, at most one per
/// <see cref="RouterAdvertiserOptions.MinMulticastInterval"/>. Unlike a router, kldload sends no
/// periodic unsolicited advertisements and no random 0-0.5 s answer delay (MAX_RA_DELAY_TIME exists to
/// desynchronise routers; the wait is what this removes).
/// </para>
/// <para>
/// Auto mode: iPXE takes only the first advertisement, so an empty one arriving before a real
/// router's would cost the client that router's prefixes and DHCPv6. Any advertisement from another
/// source that configures hosts (<see cref="RouterAdvertisement.ConfiguresHosts"/>) therefore stops the
/// answers for <see cref="RouterAdvertiserOptions.OtherRouterHoldTime"/> after the last one seen.
/// Empty advertisements (from another kldload, say) do not: a host can miss nothing by hearing them.
/// </para>
/// No sockets and no timers: time comes from the injected <see cref="TimeProvider"/>; the host owns the
/// socket and sends what <see cref="Handle"/> returns. Calls are serialised by an internal lock.
/// </summary>
public sealed class RouterAdvertiser
{
    /// <summary>All-nodes link-local multicast (RFC 4291 section 2.7.1).</summary>
    public static readonly IPAddress AllNodes = IPAddress.Parse("ff02::1");

    /// <summary>All-routers link-local multicast (RFC 4291 section 2.7.1), where solicitations go.</summary>
    public static readonly IPAddress AllRouters = IPAddress.Parse("ff02::2");

    private readonly RouterAdvertiserOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly byte[] _advertisement;
    private DateTimeOffset? _otherRouterSeen;
    private IPAddress? _otherRouter;
    private bool _holding;
    private DateTimeOffset? _lastMulticast;

    public RouterAdvertiser(RouterAdvertiserOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        if (options.Mode == RouterAdvertisementMode.Off)
        {
            throw new ArgumentException("an advertiser answers in mode On or Auto", nameof(options));
        }

        _options = options;
        _time = time;
        var ra = new RouterAdvertisement();
        if (options.LinkLayerAddress.Length == 6)
        {
            ra.Options.AddSourceLinkLayerAddress(options.LinkLayerAddress);
        }

        _advertisement = ra.ToArray();
    }

    public RouterDiscoveryCounters Counters { get; } = new();

    public RouterAdvertisementMode Mode => _options.Mode;

    /// <summary>The advertisement every answer carries (a copy).</summary>
    public byte[] Advertisement => (byte[])_advertisement.Clone();

    /// <summary>Auto mode: the other router that keeps kldload silent now; null while kldload answers.</summary>
    public IPAddress? SilencedBy
    {
        get
        {
            lock (_lock)
            {
                return _options.Mode == RouterAdvertisementMode.Auto && IsHeld(_time.GetUtcNow()) ? _otherRouter : null;
            }
        }
    }

    /// <summary>
    /// A solicitation to send to <see cref="AllRouters"/> at start-up in Auto mode: routers already on
    /// the segment answer it, so kldload learns of them before the first client asks.
    /// </summary>
    public byte[] CreateSolicitation()
    {
        var rs = new RouterSolicitation();
        if (_options.LinkLayerAddress.Length == 6)
        {
            rs.Options.AddSourceLinkLayerAddress(_options.LinkLayerAddress);
        }

        return rs.ToArray();
    }

    /// <summary>Handles one ICMPv6 message received from <paramref name="source"/> (not from this host). Never throws on hostile input.</summary>
    public RouterDiscoveryOutcome Handle(ReadOnlySpan<byte> message, IPAddress source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (message.Length == 0)
        {
            return Dropped(null, RouterDiscoveryDrop.Malformed, NdpReadError.TooShort);
        }

        lock (_lock)
        {
            return message[0] switch
            {
                (byte)NdpMessageType.RouterSolicitation => Solicited(message, source),
                (byte)NdpMessageType.RouterAdvertisement => Advertised(message, source),
                _ => Dropped(null, RouterDiscoveryDrop.NotRouterDiscovery, NdpReadError.WrongType),
            };
        }
    }

    private RouterDiscoveryOutcome Solicited(ReadOnlySpan<byte> message, IPAddress source)
    {
        const NdpMessageType type = NdpMessageType.RouterSolicitation;
        if (!RouterSolicitation.TryRead(message, out var rs, out var error))
        {
            return Dropped(type, RouterDiscoveryDrop.Malformed, error);
        }

        Counters.CountSolicitation();
        var unspecified = source.Equals(IPAddress.IPv6Any);
        if (!unspecified && !source.IsIPv6LinkLocal)
        {
            return Dropped(type, RouterDiscoveryDrop.NotLinkLocalSource, NdpReadError.None);
        }

        if (unspecified && rs.Options.Contains(NdpOptionType.SourceLinkLayerAddress))
        {
            return Dropped(type, RouterDiscoveryDrop.UnspecifiedSourceWithLinkLayerAddress, NdpReadError.None);
        }

        var now = _time.GetUtcNow();
        var ev = RouterDiscoveryEvent.None;
        if (_options.Mode == RouterAdvertisementMode.Auto)
        {
            if (IsHeld(now))
            {
                return Dropped(type, RouterDiscoveryDrop.OtherRouterActive, NdpReadError.None);
            }

            if (_holding)
            {
                _holding = false;
                ev = RouterDiscoveryEvent.Resumed;
            }
        }

        if (unspecified)
        {
            if (_lastMulticast is { } last && now - last < _options.MinMulticastInterval)
            {
                return Dropped(type, RouterDiscoveryDrop.MulticastRateLimited, NdpReadError.None) with { Event = ev };
            }

            _lastMulticast = now;
        }

        Counters.CountSent();
        return new RouterDiscoveryOutcome(type, Advertisement, unspecified ? AllNodes : source, null, NdpReadError.None, ev, null);
    }

    private RouterDiscoveryOutcome Advertised(ReadOnlySpan<byte> message, IPAddress source)
    {
        const NdpMessageType type = NdpMessageType.RouterAdvertisement;
        if (!RouterAdvertisement.TryRead(message, out var ra, out var error))
        {
            return Dropped(type, RouterDiscoveryDrop.Malformed, error);
        }

        if (!source.IsIPv6LinkLocal)
        {
            return Dropped(type, RouterDiscoveryDrop.NotLinkLocalSource, NdpReadError.None);
        }

        if (!ra.ConfiguresHosts)
        {
            Counters.CountEmpty();
            return new RouterDiscoveryOutcome(type, null, null, null, NdpReadError.None, RouterDiscoveryEvent.None, null);
        }

        Counters.CountOtherRouter();
        _otherRouterSeen = _time.GetUtcNow();
        _otherRouter = source;
        var ev = RouterDiscoveryEvent.None;
        if (_options.Mode == RouterAdvertisementMode.Auto && !_holding)
        {
            _holding = true;
            ev = RouterDiscoveryEvent.StoppedForOtherRouter;
        }

        return new RouterDiscoveryOutcome(type, null, null, null, NdpReadError.None, ev, source);
    }

    private bool IsHeld(DateTimeOffset now) => _otherRouterSeen is { } seen && now - seen < _options.OtherRouterHoldTime;

    private RouterDiscoveryOutcome Dropped(NdpMessageType? type, RouterDiscoveryDrop reason, NdpReadError error)
    {
        Counters.CountDropped(reason);
        return new RouterDiscoveryOutcome(type, null, null, reason, error, RouterDiscoveryEvent.None, null);
    }
}
