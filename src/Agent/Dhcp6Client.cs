using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Kldload.Dhcp.Dhcp6.Protocol;

namespace Kldload.Agent;

/// <summary>An address a DHCPv6 server assigned (IAADDR, RFC 8415 section 21.6), with the server that did.</summary>
internal sealed record Dhcp6Binding(IPAddress Address, uint PreferredLifetime, uint ValidLifetime, Duid ServerId);

/// <summary>
/// The live image's DHCPv6 client (Debian's busybox has no udhcpc6): one IA_NA over RFC 8415's
/// four-message exchange, SOLICIT with Rapid Commit (section 18.2.1) so a server that allows it
/// answers with the REPLY at once, otherwise ADVERTISE then REQUEST. Message building and reply
/// checking are pure; <see cref="RunAsync"/> is the socket loop.
/// </summary>
internal static class Dhcp6Client
{
    /// <summary>All_DHCP_Relay_Agents_and_Servers (RFC 8415 section 7.1).</summary>
    public static readonly IPAddress AllServers = IPAddress.Parse("ff02::1:2");

    public const int ClientPort = 546;
    public const int ServerPort = 547;

    /// <summary>The IAID of the one IA_NA: the last four bytes of the MAC, stable across boots.</summary>
    public static uint Iaid(ReadOnlySpan<byte> mac) => mac.Length >= 4 ? BinaryPrimitives.ReadUInt32BigEndian(mac[^4..]) : 1;

    /// <summary>SOLICIT with our DUID-LL, one empty IA_NA, Rapid Commit and a request for DNS servers.</summary>
    public static Dhcp6Message Solicit(ReadOnlySpan<byte> mac, uint transactionId)
    {
        var m = new Dhcp6Message { MessageType = Dhcp6MessageType.Solicit, TransactionId = transactionId };
        AddCommon(m, mac);
        m.Options.Add(Dhcp6OptionCode.IaNa, new IaNa { Iaid = Iaid(mac) }.ToArray());
        m.Options.Add(Dhcp6OptionCode.RapidCommit, []);
        return m;
    }

    /// <summary>REQUEST for the address an ADVERTISE offered, to the server that offered it (section 18.2.2).</summary>
    public static Dhcp6Message Request(ReadOnlySpan<byte> mac, uint transactionId, Dhcp6Message advertise)
    {
        ArgumentNullException.ThrowIfNull(advertise);
        var m = new Dhcp6Message { MessageType = Dhcp6MessageType.Request, TransactionId = transactionId };
        AddCommon(m, mac);
        m.Options.Add(Dhcp6OptionCode.ServerId, advertise.Options.Get(Dhcp6OptionCode.ServerId)!);
        var ia = new IaNa { Iaid = Iaid(mac) };
        foreach (var offered in advertise.Options.IaNas.Where(i => i.Iaid == ia.Iaid).SelectMany(i => i.Options.IaAddresses))
        {
            ia.Options.Add(Dhcp6OptionCode.IaAddress, new IaAddress { Address = offered.Address }.ToArray());
        }

        m.Options.Add(Dhcp6OptionCode.IaNa, ia.ToArray());
        return m;
    }

    /// <summary>
    /// Whether <paramref name="message"/> answers our transaction: its type is <paramref name="expected"/>,
    /// the transaction id and client id are ours, a server id is present and no top-level status refuses
    /// (section 16.10 and 18.2.10). Returns the first IAADDR of our IA_NA with a non-zero valid lifetime
    /// and no refusing status, or the reason there is none.
    /// </summary>
    public static Dhcp6Binding? Accept(Dhcp6Message message, Dhcp6MessageType expected, uint transactionId, ReadOnlySpan<byte> mac, out string? why)
    {
        ArgumentNullException.ThrowIfNull(message);
        why = null;
        if (message.MessageType != expected || message.TransactionId != transactionId)
        {
            why = "not our transaction";
            return null;
        }

        if (message.Options.ClientId is not { } client || !client.Equals(Duid.FromMac(mac)) || message.Options.ServerId is not { } server)
        {
            why = "client or server id missing or not ours";
            return null;
        }

        if (message.Options.Status is { } status && status.Code != Dhcp6StatusCode.Success)
        {
            why = $"server said {status.Code}: {status.Message}";
            return null;
        }

        var iaid = Iaid(mac);
        foreach (var ia in message.Options.IaNas.Where(i => i.Iaid == iaid))
        {
            if (ia.Options.Status is { } iaStatus && iaStatus.Code != Dhcp6StatusCode.Success)
            {
                why = $"server said {iaStatus.Code} for the IA_NA: {iaStatus.Message}";
                return null;
            }

            if (ia.Options.IaAddresses.FirstOrDefault(a => a.ValidLifetime > 0 && a.PreferredLifetime <= a.ValidLifetime) is { } address)
            {
                return new Dhcp6Binding(address.Address, address.PreferredLifetime, address.ValidLifetime, server);
            }
        }

        why = "no usable address in the IA_NA";
        return null;
    }

    /// <summary>
    /// Takes an address on <paramref name="interfaceName"/>: SOLICIT (retransmitted every second, the
    /// link-local address may still be tentative at first), then REQUEST when the server advertised
    /// instead of committing; null when nothing usable answered before <paramref name="timeout"/>.
    /// </summary>
    public static async Task<Dhcp6Binding?> RunAsync(string interfaceName, TimeSpan timeout, Action<string> say, CancellationToken ct)
    {
        var index = int.Parse(File.ReadAllText($"/sys/class/net/{interfaceName}/ifindex").Trim(), CultureInfo.InvariantCulture);
        var mac = Convert.FromHexString(File.ReadAllText($"/sys/class/net/{interfaceName}/address").Trim().Replace(":", "", StringComparison.Ordinal));
        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, index);
        socket.Bind(new IPEndPoint(IPAddress.IPv6Any, ClientPort));
        var server = new IPEndPoint(new IPAddress(AllServers.GetAddressBytes(), index), ServerPort);
        var deadline = DateTime.UtcNow + timeout;
        var buffer = new byte[1500];
        var xid = (uint)Random.Shared.Next(1, (int)Dhcp6Message.MaxTransactionId);
        var sending = Solicit(mac, xid);
        var expected = Dhcp6MessageType.Reply;
        while (DateTime.UtcNow < deadline && !ct.IsCancellationRequested)
        {
            try
            {
                await socket.SendToAsync(sending.ToArray(), server, ct);
            }
            catch (SocketException e)
            {
                // No usable source address yet (link-local still in duplicate address detection).
                say($"dhcp6: send on {interfaceName} failed ({e.SocketErrorCode}); retrying");
                await Task.Delay(500, ct);
                continue;
            }

            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            wait.CancelAfter(TimeSpan.FromSeconds(1));
            try
            {
                while (true)
                {
                    var got = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.IPv6Any, 0), wait.Token);
                    if (!Dhcp6Message.TryRead(buffer.AsSpan(0, got.ReceivedBytes), out var answer, out _))
                    {
                        continue;
                    }

                    if (sending.MessageType == Dhcp6MessageType.Solicit && answer.MessageType == Dhcp6MessageType.Advertise
                        && Accept(answer, Dhcp6MessageType.Advertise, xid, mac, out _) is not null)
                    {
                        xid = (uint)Random.Shared.Next(1, (int)Dhcp6Message.MaxTransactionId);
                        sending = Request(mac, xid, answer);
                        break;
                    }

                    if (Accept(answer, expected, xid, mac, out var why) is { } binding)
                    {
                        return binding;
                    }

                    if (answer.TransactionId == xid && why is not null)
                    {
                        say($"dhcp6: {answer.MessageType} from {got.RemoteEndPoint} refused: {why}");
                    }
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // A second without an answer: send again (RFC 8415's back-off starts at 1 s for SOLICIT).
            }
        }

        return null;
    }

    private static void AddCommon(Dhcp6Message m, ReadOnlySpan<byte> mac)
    {
        m.Options.Add(Dhcp6OptionCode.ClientId, Duid.FromMac(mac).Bytes);
        m.Options.Add(Dhcp6OptionCode.ElapsedTime, [0, 0]);
        m.Options.Add(Dhcp6OptionCode.OptionRequest, Dhcp6Options.UInt16List([(ushort)Dhcp6OptionCode.DnsServers]));
    }
}
