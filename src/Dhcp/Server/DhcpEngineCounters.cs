using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>Packet counters of one engine, read by the host's metrics. Safe to read from any thread.</summary>
public sealed class DhcpEngineCounters
{
    private readonly long[] _received = new long[256];
    private readonly long[] _sent = new long[256];
    private readonly long[] _dropped = new long[32];
    private readonly long[] _malformed = new long[32];

    public long Received(DhcpMessageType type) => Interlocked.Read(ref _received[(byte)type]);

    public long Sent(DhcpMessageType type) => Interlocked.Read(ref _sent[(byte)type]);

    public long Dropped(DhcpDropReason reason) => Interlocked.Read(ref _dropped[(byte)reason]);

    public long Malformed(DhcpReadError error) => Interlocked.Read(ref _malformed[(byte)error]);

    internal void CountReceived(DhcpMessageType type) => Interlocked.Increment(ref _received[(byte)type]);

    internal void CountSent(DhcpMessageType type) => Interlocked.Increment(ref _sent[(byte)type]);

    internal void CountDropped(DhcpDropReason reason) => Interlocked.Increment(ref _dropped[(byte)reason]);

    internal void CountMalformed(DhcpReadError error)
    {
        Interlocked.Increment(ref _malformed[(byte)error]);
        Interlocked.Increment(ref _dropped[(byte)DhcpDropReason.Malformed]);
    }
}
