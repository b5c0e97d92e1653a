using Kldload.Dhcp.Dhcp6.Protocol;

namespace Kldload.Dhcp.Dhcp6.Server;

/// <summary>Packet counters of one DHCPv6 engine, read by the host's metrics. Safe to read from any thread.</summary>
public sealed class Dhcp6EngineCounters
{
    private readonly long[] _received = new long[256];
    private readonly long[] _sent = new long[256];
    private readonly long[] _dropped = new long[32];
    private readonly long[] _malformed = new long[32];

    public long Received(Dhcp6MessageType type) => Interlocked.Read(ref _received[(byte)type]);

    public long Sent(Dhcp6MessageType type) => Interlocked.Read(ref _sent[(byte)type]);

    public long Dropped(Dhcp6DropReason reason) => Interlocked.Read(ref _dropped[(byte)reason]);

    public long Malformed(Dhcp6ReadError error) => Interlocked.Read(ref _malformed[(byte)error]);

    internal void CountReceived(Dhcp6MessageType type) => Interlocked.Increment(ref _received[(byte)type]);

    internal void CountSent(Dhcp6MessageType type) => Interlocked.Increment(ref _sent[(byte)type]);

    internal void CountDropped(Dhcp6DropReason reason) => Interlocked.Increment(ref _dropped[(byte)reason]);

    internal void CountMalformed(Dhcp6ReadError error)
    {
        Interlocked.Increment(ref _malformed[(byte)error]);
        Interlocked.Increment(ref _dropped[(byte)Dhcp6DropReason.Malformed]);
    }
}
