using System.Buffers.Binary;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Tests.Peer;

/// <summary>Reads DHCP messages out of a tcpdump capture (pcap, Ethernet, IPv4, UDP); a torn tail is ignored.</summary>
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
}
