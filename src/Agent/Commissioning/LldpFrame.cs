using System.Buffers.Binary;
using System.Text;
using Kldload.Facts;

namespace Kldload.Agent.Commissioning;

/// <summary>
/// The parts of an LLDP frame (IEEE 802.1AB-2016 section 8) the cable check needs. After the Ethernet
/// header (destination, source, EtherType 0x88CC), TLVs:
/// <code>
/// bits 15..9  type      (0 End, 1 Chassis ID, 2 Port ID, 3 TTL, 5 System Name)
/// bits  8..0  length    (of the value)
/// value       Chassis/Port ID: subtype byte, then the id (subtype 4 (chassis) / 3 (port) = MAC address)
/// </code>
/// </summary>
internal static class LldpFrame
{
    /// <summary>The LLDP EtherType.</summary>
    public const ushort EtherType = 0x88CC;

    private const int EthernetHeader = 14;
    private const byte TlvEnd = 0, TlvChassisId = 1, TlvPortId = 2, TlvSystemName = 5;
    private const byte ChassisSubtypeMac = 4, PortSubtypeMac = 3;

    /// <summary>Reads an Ethernet frame; null when it is not LLDP or is malformed.</summary>
    public static LldpFacts? TryRead(ReadOnlySpan<byte> frame, string interfaceName)
    {
        if (frame.Length < EthernetHeader || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != EtherType)
        {
            return null;
        }

        string? chassis = null, port = null, name = null;
        var at = EthernetHeader;
        while (at + 2 <= frame.Length)
        {
            var header = BinaryPrimitives.ReadUInt16BigEndian(frame[at..]);
            var type = (byte)(header >> 9);
            var length = header & 0x1FF;
            at += 2;
            if (type == TlvEnd)
            {
                break;
            }

            if (at + length > frame.Length)
            {
                return null;
            }

            var value = frame.Slice(at, length);
            switch (type)
            {
                case TlvChassisId when length >= 2:
                    chassis = Id(value[0] == ChassisSubtypeMac, value[1..]);
                    break;
                case TlvPortId when length >= 2:
                    port = Id(value[0] == PortSubtypeMac, value[1..]);
                    break;
                case TlvSystemName:
                    name = Text(value);
                    break;
            }

            at += length;
        }

        return chassis is null || port is null ? null : new LldpFacts(interfaceName, chassis, port, name);
    }

    private static string? Id(bool mac, ReadOnlySpan<byte> id) =>
        mac && id.Length == 6 ? string.Join(':', id.ToArray().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture))) : Text(id);

    private static string? Text(ReadOnlySpan<byte> value)
    {
        var s = new string([.. Encoding.ASCII.GetString(value).Where(c => c is >= ' ' and < (char)0x7f)]).Trim();
        return s.Length == 0 ? null : s;
    }
}
