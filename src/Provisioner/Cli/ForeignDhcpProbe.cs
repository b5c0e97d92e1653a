using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Kldload.Dhcp;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Provisioner.Cli;

/// <summary>A DHCP server that answered the probe's DISCOVER.</summary>
/// <param name="ServerId">Its server identifier (option 54), else the address the OFFER came from.</param>
/// <param name="Offered">The address it offered (yiaddr).</param>
internal sealed record ForeignDhcpServer(IPAddress ServerId, IPAddress Offered);

/// <summary>
/// Asks a segment who answers DHCP: one DISCOVER broadcast from the interface (a random, locally
/// administered MAC, broadcast flag set), then every OFFER with the same transaction id until the
/// timeout. An OFFER creates no lease anywhere: the probe never sends a REQUEST.
/// </summary>
internal static class ForeignDhcpProbe
{
    private const int SolSocket = 1;
    private const int SoBindToDevice = 25;
    private const int ClientPort = 68;
    private const int ServerPort = 67;

    /// <summary>Every server that answered on <paramref name="interfaceName"/>, distinct by server id.</summary>
    public static async Task<IReadOnlyList<ForeignDhcpServer>> DiscoverAsync(string interfaceName, TimeSpan timeout, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.EnableBroadcast = true;
        socket.SetRawSocketOption(SolSocket, SoBindToDevice, Encoding.ASCII.GetBytes(interfaceName + "\0"));
        socket.Bind(new IPEndPoint(IPAddress.Any, ClientPort));

        var xid = BitConverter.ToUInt32(RandomNumberGenerator.GetBytes(4));
        var discover = Discover(xid);
        var buffer = new byte[1500];
        var length = discover.TryWrite(buffer, out var written) ? written : throw new InvalidOperationException("DISCOVER does not fit a datagram");
        await socket.SendToAsync(buffer.AsMemory(0, length), SocketFlags.None, new IPEndPoint(IPAddress.Broadcast, ServerPort), ct).ConfigureAwait(false);

        var found = new Dictionary<IPAddress, ForeignDhcpServer>();
        using var window = CancellationTokenSource.CreateLinkedTokenSource(ct);
        window.CancelAfter(timeout);
        var receive = new byte[65535];
        while (true)
        {
            SocketReceiveFromResult result;
            try
            {
                result = await socket.ReceiveFromAsync(receive, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), window.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                break;
            }

            if (!DhcpMessage.TryRead(receive.AsSpan(0, result.ReceivedBytes), out var offer, out _)
                || offer.Op != BootOp.BootReply || offer.TransactionId != xid || offer.Options.MessageType != DhcpMessageType.Offer)
            {
                continue;
            }

            var serverId = offer.Options.GetAddress(DhcpOptionCode.ServerIdentifier)?.ToIPAddress()
                ?? ((IPEndPoint)result.RemoteEndPoint).Address;
            found.TryAdd(serverId, new ForeignDhcpServer(serverId, offer.YourAddress.ToIPAddress()));
        }

        return [.. found.Values];
    }

    private static DhcpMessage Discover(uint xid)
    {
        var mac = RandomNumberGenerator.GetBytes(6);
        mac[0] = (byte)((mac[0] & 0xFC) | 0x02); // unicast, locally administered
        var message = new DhcpMessage { Op = BootOp.BootRequest, TransactionId = xid, IsBroadcast = true };
        mac.CopyTo(message.ClientHardwareAddress, 0);
        message.Options.MessageType = DhcpMessageType.Discover;
        message.Options.Set(DhcpOptionCode.ParameterRequestList, [1, 3, 6, 54]);
        return message;
    }
}
