namespace Kldload.Dhcp.LoadBalancing;

/// <summary>
/// A hash bucket assignment (RFC 3074 section 3, HBA): the set of the 256 buckets one server answers,
/// as 256 bits. Immutable.
/// </summary>
public sealed class HashBuckets
{
    private readonly ulong[] _bits = new ulong[4];

    private HashBuckets()
    {
    }

    /// <summary>Buckets 0-127: the primary's half (ISC dhcpd's <c>split 128</c>).</summary>
    public static HashBuckets LowerHalf { get; } = Range(0, 127);

    /// <summary>Buckets 128-255: the secondary's half.</summary>
    public static HashBuckets UpperHalf { get; } = Range(128, 255);

    /// <summary>Every bucket: a server with no peer, or whose peer has gone silent.</summary>
    public static HashBuckets All { get; } = Range(0, 255);

    /// <summary>How many buckets are assigned.</summary>
    public int Count => _bits.Sum(b => System.Numerics.BitOperations.PopCount(b));

    /// <summary>The buckets <paramref name="first"/> to <paramref name="last"/>, both included.</summary>
    public static HashBuckets Range(byte first, byte last)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first, last);
        var buckets = new HashBuckets();
        for (var b = (int)first; b <= last; b++)
        {
            buckets._bits[b >> 6] |= 1UL << (b & 63);
        }

        return buckets;
    }

    /// <summary>True when <paramref name="bucket"/> is assigned.</summary>
    public bool Contains(byte bucket) => (_bits[bucket >> 6] & (1UL << (bucket & 63))) != 0;
}
