using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Kldload.Dhcp.Protocol;

/// <summary>
/// An IPv4 address held as a host-order <see cref="uint"/>: the DHCP header and most options carry
/// addresses as 4 network-order bytes, and pool arithmetic wants integers, not <see cref="IPAddress"/>.
/// </summary>
public readonly record struct Ipv4Address(uint Value) : IComparable<Ipv4Address>
{
    /// <summary>0.0.0.0: "no address" in ciaddr, yiaddr, siaddr and giaddr.</summary>
    public static readonly Ipv4Address Any = new(0);

    /// <summary>255.255.255.255, the limited broadcast address.</summary>
    public static readonly Ipv4Address Broadcast = new(uint.MaxValue);

    public bool IsAny => Value == 0;

    public static Ipv4Address Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt32BigEndian(source));

    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, Value);

    public static Ipv4Address FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException("not an IPv4 address", nameof(address));
        }

        Span<byte> b = stackalloc byte[4];
        address.TryWriteBytes(b, out _);
        return Read(b);
    }

    public static Ipv4Address Parse(string text) => FromIPAddress(IPAddress.Parse(text));

    public IPAddress ToIPAddress()
    {
        Span<byte> b = stackalloc byte[4];
        Write(b);
        return new IPAddress(b);
    }

    /// <summary>The network mask with <paramref name="prefixLength"/> leading one bits.</summary>
    public static Ipv4Address MaskFromPrefix(int prefixLength) =>
        new(prefixLength <= 0 ? 0u : uint.MaxValue << (32 - Math.Min(prefixLength, 32)));

    public int CompareTo(Ipv4Address other) => Value.CompareTo(other.Value);

    public override string ToString() => $"{Value >> 24}.{(Value >> 16) & 0xFF}.{(Value >> 8) & 0xFF}.{Value & 0xFF}";
}
