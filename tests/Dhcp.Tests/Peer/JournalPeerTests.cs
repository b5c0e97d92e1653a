using System.Net;
using System.Net.Sockets;
using System.Text;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.Peer;

/// <summary>The lease journal against the real kldload binary: <c>kill -9</c>, LiteDB files deleted, restart.</summary>
[Trait("Tier", "Peer")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class JournalPeerTests
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task KillDashNine_ClientIdOf200BytesBetweenTwoClients_AllThreeLeasesBackFromJournalAloneAndNoneOfferedToAnother()
    {
        using var lab = new NetworkLab();
        var data = Path.Combine(lab.TempDir, "var");
        var settings = KldloadServer.FullMode(lab);
        var server = await KldloadServer.StartAsync(lab, lab.ServerNs, data, settings);
        NetworkLab.IpIn(lab.ClientNs, "addr", "add", $"{lab.Prefix}.0.2/24", "dev", lab.ClientIf);
        using var socket = NetworkLab.CreateUdpSocketIn(lab.ClientNs);
        socket.SetRawSocketOption(1, 25, Encoding.ASCII.GetBytes(lab.ClientIf + "\0"));
        socket.EnableBroadcast = true;
        socket.Bind(new IPEndPoint(IPAddress.Any, DhcpEngine.ClientPort));
        var serverId = Ipv4Address.Parse($"{lab.Prefix}.0.1");

        // A normal client id, 200 bytes of client id (403 characters as the lease's identity), no client id.
        var longId = Enumerable.Range(0, 200).Select(i => (byte)(i * 7)).ToArray();
        Client[] clients =
        [
            new(Mac(1), [1, .. Mac(1)]),
            new(Mac(2), longId),
            new(Mac(3), null),
        ];
        var granted = new List<Ipv4Address>();
        foreach (var client in clients)
        {
            granted.Add(await DoraAsync(socket, client, serverId));
        }

        Assert.Equal(3, granted.Distinct().Count());

        // kill -9 (SIGKILL) of the kldload we started, then the LiteDB files go: only the journal is left.
        server.Process.Kill();
        server.DeleteLeaseDatabase();

        Assert.True(File.Exists(Path.Combine(data, "leases.journal")));
        var restarted = await KldloadServer.StartAsync(lab, lab.ServerNs, data, settings);

        // A new client is offered none of the three addresses.
        var newcomer = new Client(Mac(4), [1, .. Mac(4)]);
        var offer = await ExchangeAsync(socket, Message(DhcpMessageType.Discover, newcomer, 0x10));
        Assert.Equal(DhcpMessageType.Offer, offer.Options.MessageType);
        Assert.DoesNotContain(offer.YourAddress, granted);

        // Each of the three gets its own address back at INIT-REBOOT (RFC 2131 section 4.3.2).
        for (var i = 0; i < clients.Length; i++)
        {
            var reboot = Message(DhcpMessageType.Request, clients[i], 0x20);
            reboot.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, granted[i]);
            var ack = await ExchangeAsync(socket, reboot);
            Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
            Assert.Equal(granted[i], ack.YourAddress);
        }

        restarted.Process.Kill();
        using var store = LiteDbLeaseStore.Open(Path.Combine(data, "leases.db"));
        var leases = store.LoadAll().Where(l => l.State == DhcpLeaseState.Active).ToDictionary(l => l.Address);
        for (var i = 0; i < clients.Length; i++)
        {
            Assert.True(leases.TryGetValue(granted[i], out var lease), $"{granted[i]} of {clients[i].MacText} is not in the store");
            Assert.Equal(clients[i].MacText, lease.HardwareAddress);
        }

        Assert.Equal("id:" + Convert.ToHexString(longId), leases[granted[1]].ClientId);
    }

    [Fact]
    public async Task Serve_JournalRecordWithValidChecksumButUnknownState_ExitsNamingTheOffsetAndKeepsTheJournal()
    {
        using var lab = new NetworkLab();
        var data = Directory.CreateDirectory(Path.Combine(lab.TempDir, "var")).FullName;
        var good = new DhcpLease
        {
            Address = Ipv4Address.Parse($"{lab.Prefix}.0.100"),
            ClientId = "hw:525400000001",
            HardwareAddress = "52:54:00:00:00:01",
            State = DhcpLeaseState.Active,
            Expires = DateTimeOffset.UtcNow.AddHours(1),
        };
        using var journal = new MemoryStream();
        LiteDbLeaseStore.WriteJournal(journal, [good, good with { Address = Ipv4Address.Parse($"{lab.Prefix}.0.101") }]);
        var bytes = journal.ToArray();
        var second = LeaseJournal.HeaderLength + (bytes.Length - LeaseJournal.HeaderLength) / 2;
        bytes[second + LeaseRecordCodec.LengthSize + 4] = 7; // state 7, checksum made valid again
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(bytes.Length - 4), LeaseRecordCodec.Crc32(bytes.AsSpan(second, bytes.Length - 4 - second)));
        var path = Path.Combine(data, "leases.journal");
        await File.WriteAllBytesAsync(path, bytes);

        var server = lab.Start(lab.ServerNs, Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
            [Path.Combine(AppContext.BaseDirectory, "kldload.dll"), "serve", "--urls", "http://127.0.0.1:0", "--Tftp:Enabled=false",
             $"--Kldload:DataDir={data}", .. KldloadServer.FullMode(lab)]);
        await server.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, server.ExitCode);
        Assert.Contains($"{path}: cannot replay past offset {second}", server.Output, StringComparison.Ordinal);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
    }

    private static byte[] Mac(int n) => [0x52, 0x54, 0x00, 0x4a, 0x00, (byte)n];

    private static async Task<Ipv4Address> DoraAsync(Socket socket, Client client, Ipv4Address serverId)
    {
        var offer = await ExchangeAsync(socket, Message(DhcpMessageType.Discover, client, 1));
        Assert.Equal(DhcpMessageType.Offer, offer.Options.MessageType);
        var request = Message(DhcpMessageType.Request, client, 2);
        request.Options.SetAddress(DhcpOptionCode.ServerIdentifier, serverId);
        request.Options.SetAddress(DhcpOptionCode.RequestedIPAddress, offer.YourAddress);
        var ack = await ExchangeAsync(socket, request);
        Assert.Equal(DhcpMessageType.Ack, ack.Options.MessageType);
        Assert.Equal(offer.YourAddress, ack.YourAddress);
        return ack.YourAddress;
    }

    private static DhcpMessage Message(DhcpMessageType type, Client client, uint step)
    {
        var m = new DhcpMessage { TransactionId = (uint)(0x4a000000 | (client.Mac[5] << 8)) + step, IsBroadcast = true };
        client.Mac.CopyTo(m.ClientHardwareAddress, 0);
        m.Options.MessageType = type;
        if (client.Id is { } id)
        {
            m.Options.Set(DhcpOptionCode.ClientIdentifier, id);
        }

        return m;
    }

    /// <summary>Broadcasts <paramref name="request"/> and returns the reply with its xid (a few tries: UDP).</summary>
    private static async Task<DhcpMessage> ExchangeAsync(Socket socket, DhcpMessage request)
    {
        var buffer = new byte[1500];
        for (var attempt = 0; attempt < 3; attempt++)
        {
            await socket.SendToAsync(request.ToArray(), SocketFlags.None, new IPEndPoint(IPAddress.Broadcast, DhcpEngine.ServerPort));
            using var cts = new CancellationTokenSource(ReplyTimeout);
            try
            {
                while (true)
                {
                    var r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
                    if (DhcpMessage.TryRead(buffer.AsSpan(0, r.ReceivedBytes), out var reply, out _)
                        && reply.Op == BootOp.BootReply && reply.TransactionId == request.TransactionId)
                    {
                        return reply;
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // No reply within the timeout: send again.
            }
        }

        throw new TimeoutException($"no reply to {request.Options.MessageType} xid {request.TransactionId:x8}");
    }

    private sealed record Client(byte[] Mac, byte[]? Id)
    {
        public string MacText => string.Join(':', Mac.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
    }
}
