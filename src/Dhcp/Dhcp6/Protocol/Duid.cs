using System.Buffers.Binary;

namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>DUID types (RFC 8415 section 11.1; IANA "DUID Types").</summary>
public enum DuidType : ushort
{
    /// <summary>Link-layer address plus time (section 11.2).</summary>
    LinkLayerPlusTime = 1,

    /// <summary>Vendor-assigned, based on an enterprise number (section 11.3).</summary>
    EnterpriseNumber = 2,

    /// <summary>Link-layer address (section 11.4).</summary>
    LinkLayer = 3,

    /// <summary>UUID (RFC 6355).</summary>
    Uuid = 4,
}

/// <summary>
/// A DHCP unique identifier: opaque bytes a client or server names itself with (RFC 8415 section 11).
/// Compared as bytes; typed views read the link-layer address out of DUID-LLT and DUID-LL.
/// <code>
/// DUID-LLT: | type=1 (2) | hardware type (2) | time (4) | link-layer address |
/// DUID-LL:  | type=3 (2) | hardware type (2) | link-layer address             |
/// </code>
/// </summary>
public sealed class Duid : IEquatable<Duid>
{
    /// <summary>Longest DUID (RFC 8415 section 11.1: 128 octets, not counting the type).</summary>
    public const int MaxLength = 130;

    private const int TypeOffset = 0;
    private const int HardwareTypeOffset = 2;
    private const int LltAddressOffset = 8;
    private const int LlAddressOffset = 4;

    /// <summary>Ethernet (IANA hardware type 1).</summary>
    public const ushort HardwareTypeEthernet = 1;

    public Duid(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Bytes = bytes;
    }

    public byte[] Bytes { get; }

    /// <summary>The DUID type, or 0 when shorter than 2 bytes.</summary>
    public DuidType Type => Bytes.Length >= 2 ? (DuidType)BinaryPrimitives.ReadUInt16BigEndian(Bytes.AsSpan(TypeOffset)) : 0;

    /// <summary>The link-layer address of a DUID-LLT or DUID-LL with hardware type Ethernet and 6 address bytes; null otherwise.</summary>
    public byte[]? MacAddress
    {
        get
        {
            var offset = Type switch
            {
                DuidType.LinkLayerPlusTime => LltAddressOffset,
                DuidType.LinkLayer => LlAddressOffset,
                _ => -1,
            };
            if (offset < 0 || Bytes.Length != offset + 6 || BinaryPrimitives.ReadUInt16BigEndian(Bytes.AsSpan(HardwareTypeOffset)) != HardwareTypeEthernet)
            {
                return null;
            }

            return Bytes[offset..];
        }
    }

    /// <summary>A DUID-LL for an Ethernet address.</summary>
    public static Duid FromMac(ReadOnlySpan<byte> mac)
    {
        var bytes = new byte[LlAddressOffset + mac.Length];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)DuidType.LinkLayer);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(HardwareTypeOffset), HardwareTypeEthernet);
        mac.CopyTo(bytes.AsSpan(LlAddressOffset));
        return new Duid(bytes);
    }

    /// <summary>Lower-case hex with ':' between bytes (the form kea and dhclient print).</summary>
    public override string ToString() => string.Join(':', Bytes.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));

    public bool Equals(Duid? other) => other is not null && Bytes.AsSpan().SequenceEqual(other.Bytes);

    public override bool Equals(object? obj) => Equals(obj as Duid);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Bytes);
        return hash.ToHashCode();
    }
}
