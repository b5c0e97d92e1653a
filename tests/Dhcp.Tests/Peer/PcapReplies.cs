using System.Buffers.Binary;
using Kldload.Dhcp.Dhcp6.Protocol;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Tests.Peer;

/// <summary>Reads DHCP (IPv4) or DHCPv6 messages out of a tcpdump capture (pcap, Ethernet, UDP); a torn tail is ignored.</summary>
internal static class PcapReplies
{
    public static IReadOnlyList<DhcpMessage> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var list = new List<DhcpMessage>();
        var i = 24;
        while (i + 16 <= bytes.Length)
        {
            var captured = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i + 8));
            if (i + 16 + captured > bytes.Length)
            {
                break;
            }

            var frame = bytes.AsSpan(i + 16, captured);
            i += 16 + captured;
            if (frame.Length < 14 + 20 + 8 || frame[12] != 0x08 || frame[13] != 0x00)
            {
                continue;
            }

            var ihl = (frame[14] & 0x0F) * 4;
            var payload = frame[(14 + ihl + 8)..];
            if (DhcpMessage.TryRead(payload, out var message, out _))
            {
                list.Add(message);
            }
        }

        return list;
    }

    /// <summary>
    /// DHCPv6 messages (client/server, not relayed) of the capture: Ethernet type 0x86DD, a 40-byte IPv6
    /// header with UDP as its next header (no extension headers, as DHCPv6 on one link has none), UDP.
    /// </summary>
    public static IReadOnlyList<Dhcp6Message> ReadDhcp6(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var list = new List<Dhcp6Message>();
        var i = 24;
        while (i + 16 <= bytes.Length)
        {
            var captured = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i + 8));
            if (i + 16 + captured > bytes.Length)
            {
                break;
            }

            var frame = bytes.AsSpan(i + 16, captured);
            i += 16 + captured;
            if (frame.Length < 14 + 40 + 8 || frame[12] != 0x86 || frame[13] != 0xDD || frame[14 + 6] != 17)
            {
                continue;
            }

            if (Dhcp6Message.TryRead(frame[(14 + 40 + 8)..], out var message, out _))
            {
                list.Add(message);
            }
        }

        return list;
    }
}
