using System.Buffers.Binary;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Kldload.Facts;

namespace Kldload.Agent.Commissioning;

/// <summary>
/// Listens passively for the switch's LLDP frame on the boot NIC: an AF_PACKET socket for EtherType
/// 0x88CC, bound to the interface, with the LLDP multicast address (01:80:C2:00:00:0E) joined so the
/// NIC passes it up. Sends nothing. Any problem (no root, no such interface) means "no neighbour".
/// Not exercised by the tests against a real switch; <see cref="LldpFrame"/> is.
/// </summary>
internal static class LldpListener
{
    // linux/if_packet.h and linux/socket.h.
    private const int SolPacket = 263;
    private const int PacketAddMembership = 1;
    private const int PacketMrMulticast = 0;

    public static async Task<LldpFacts?> ListenAsync(string interfaceName, TimeSpan duration, CancellationToken ct)
    {
        try
        {
            var index = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == interfaceName)?.GetIPProperties().GetIPv4Properties()?.Index;
            if (index is null)
            {
                return null;
            }

            var protocol = (ProtocolType)BinaryPrimitives.ReverseEndianness(LldpFrame.EtherType);
            using var socket = new Socket(AddressFamily.Packet, SocketType.Raw, protocol);

            // struct packet_mreq { int mr_ifindex; unsigned short mr_type; unsigned short mr_alen; unsigned char mr_address[8]; }
            var mreq = new byte[16];
            BinaryPrimitives.WriteInt32LittleEndian(mreq, index.Value);
            BinaryPrimitives.WriteUInt16LittleEndian(mreq.AsSpan(4), PacketMrMulticast);
            BinaryPrimitives.WriteUInt16LittleEndian(mreq.AsSpan(6), 6);
            ((byte[])[0x01, 0x80, 0xC2, 0x00, 0x00, 0x0E]).CopyTo(mreq, 8);
            socket.SetRawSocketOption(SolPacket, PacketAddMembership, mreq);

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(duration);
            var buffer = new byte[1600];
            while (true)
            {
                // Without bind(sockaddr_ll) the socket hears every interface; the live image has the boot NIC up only.
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (LldpFrame.TryRead(buffer.AsSpan(0, n), interfaceName) is { } neighbour)
                {
                    return neighbour;
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or NetworkInformationException or PlatformNotSupportedException or NotSupportedException)
        {
            return null;
        }
    }
}
