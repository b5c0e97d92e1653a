using System.Buffers.Binary;
using System.Text;

namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>
/// OPTION_VENDOR_CLASS (RFC 8415 section 21.16): an enterprise number and opaque class strings.
/// UEFI firmware sends enterprise 343 (Intel) with one string, <c>PXEClient:Arch:00007:UNDI:003016</c>
/// or <c>HTTPClient:Arch:00016:...</c> (UEFI 2.x section 24.7; RFC 5970 section 3.4 for the PXE form).
/// <code>
/// | enterprise-number (4) | vendor-class-data (length-prefixed items, <see cref="LengthPrefixedList"/>) |
/// </code>
/// </summary>
public sealed record VendorClass(uint EnterpriseNumber, IReadOnlyList<byte[]> Data)
{
    /// <summary>Intel's enterprise number, which UEFI PXE and HTTP boot clients send.</summary>
    public const uint EnterpriseIntel = 343;

    /// <summary>The class strings as ASCII text.</summary>
    public IEnumerable<string> Texts => Data.Select(d => Encoding.ASCII.GetString(d));

    /// <summary>A class string begins with <c>PXEClient</c>.</summary>
    public bool IsPxeClient => Texts.Any(t => t.StartsWith("PXEClient", StringComparison.Ordinal));

    /// <summary>A class string begins with <c>HTTPClient</c>.</summary>
    public bool IsHttpClient => Texts.Any(t => t.StartsWith("HTTPClient", StringComparison.Ordinal));

    public static bool TryRead(ReadOnlySpan<byte> data, out VendorClass vendorClass)
    {
        if (data.Length < 4 || !LengthPrefixedList.TryRead(data[4..], out var items))
        {
            vendorClass = new VendorClass(0, []);
            return false;
        }

        vendorClass = new VendorClass(BinaryPrimitives.ReadUInt32BigEndian(data), items);
        return true;
    }

    public byte[] ToArray()
    {
        var items = LengthPrefixedList.ToArray(Data);
        var bytes = new byte[4 + items.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, EnterpriseNumber);
        items.CopyTo(bytes, 4);
        return bytes;
    }
}
