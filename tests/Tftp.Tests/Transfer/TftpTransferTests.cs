using System.Net;
using System.Text;
using Kldload.Tftp.Files;
using Kldload.Tftp.Protocol;
using Kldload.Tftp.Transfer;
using Microsoft.Extensions.Time.Testing;

namespace Kldload.Tftp.Tests.Transfer;

public class TftpTransferTests
{
    private static readonly SocketAddress Client = RecordingTransport.Address("127.0.0.1:40000");
    private static readonly SocketAddress Stranger = RecordingTransport.Address("127.0.0.1:40001");

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch);
    private readonly RecordingTransport _requestPort = new();
    private readonly RecordingTransport _transferPort = new();
    private readonly CountingObserver _observer = new();

    [Fact]
    public void Start_NoOptions_SendsPlainRfc1350Blocks()
    {
        var content = Pattern(1000);
        var transfer = Request("f", content, [])!;

        var first = Single(_transferPort.TakeAll());
        Assert.Equal(1, RecordingTransport.DataBlock(first));
        Assert.Equal(4 + 512, first.Length);

        Ack(transfer, 1);
        var second = Single(_transferPort.TakeAll());
        Assert.Equal(4 + 488, second.Length);
        Ack(transfer, 2);

        Assert.True(transfer.Completion.IsCompleted);
        Assert.Equal(TftpTransferOutcome.Completed, Result(transfer).Outcome);
        Assert.Equal(1000, Result(transfer).BytesAcknowledged);
        Assert.Equal(0, _observer.Active);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 1)]
    [InlineData(512, 2)]
    [InlineData(1024, 3)]
    public void Transfer_Sizes_EndWithShortBlock(int size, int blocks)
    {
        var content = Pattern(size);
        var received = RunLockstep(Request("f", content, [])!, out var count);
        Assert.Equal(blocks, count);
        Assert.Equal(content, received);
    }

    [Fact]
    public void Start_WithOptions_SendsOackAndWaitsForAckZero()
    {
        var transfer = Request("f", Pattern(5000), [new("blksize", "1024"), new("tsize", "0"), new("windowsize", "4"), new("color", "blue")])!;
        var oack = Single(_transferPort.TakeAll());
        Assert.True(TftpOptionAck.TryRead(oack, out var parsed, out _));
        Assert.Equal([new TftpOption("blksize", "1024"), new TftpOption("tsize", "5000"), new TftpOption("windowsize", "4")], parsed.Options);

        Ack(transfer, 0);
        var flight = _transferPort.TakeAll();
        Assert.Equal([1, 2, 3, 4], flight.Select(RecordingTransport.DataBlock));
        Assert.All(flight, d => Assert.Equal(4 + 1024, d.Length));
    }

    [Fact]
    public void HandleRequest_RepeatedWhileAwaitingAckZero_ResendsOackFromSameTransfer()
    {
        var server = Server(Options());
        var rrq = RequestBytes(TftpOpcode.ReadRequest, "f", "octet", [new("blksize", "1024")]);
        var transfer = server.HandleRequest(rrq, Client, _requestPort, () => _transferPort)!;
        Assert.True(TftpOptionAck.TryRead(Single(_transferPort.TakeAll()), out _, out _));

        // The client lost the OACK and asks again: no second transfer, the OACK again.
        Assert.Null(server.HandleRequest(rrq, Client, _requestPort, () => throw new InvalidOperationException("no second port")));
        Assert.True(TftpOptionAck.TryRead(Single(_transferPort.TakeAll()), out _, out _));
        Assert.Equal(1, server.ActiveTransfers);

        // An OACK is not resent before the client's own timer (atftp aborts on a second OACK).
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(_transferPort.TakeAll());
        Ack(transfer, 0);
        Assert.Equal(1, RecordingTransport.DataBlock(Single(_transferPort.TakeAll())));
    }

    [Fact]
    public void Ack_Duplicate_SendsNothing()
    {
        var transfer = Request("f", Pattern(5000), [])!;
        _transferPort.TakeAll();
        Ack(transfer, 1);
        Assert.Single(_transferPort.TakeAll());

        // The Sorcerer's Apprentice: a second ACK 1 (say the client's retransmission) must not
        // produce a second DATA 2.
        Ack(transfer, 1);
        Ack(transfer, 1);
        Assert.Empty(_transferPort.TakeAll());
        Assert.Equal(2, _observer.Drops[TftpDropReason.DuplicateAck]);

        Ack(transfer, 2);
        Assert.Equal(3, RecordingTransport.DataBlock(Single(_transferPort.TakeAll())));
    }

    [Fact]
    public void Timer_NoAck_RetransmitsWithBackoffThenTimesOut()
    {
        var options = Options() with { Retries = 3, Timeout = TimeSpan.FromMilliseconds(100) };
        var transfer = Request("f", Pattern(5000), [], options)!;
        _transferPort.TakeAll();

        _time.Advance(TimeSpan.FromMilliseconds(99));
        Assert.Empty(_transferPort.TakeAll());
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, RecordingTransport.DataBlock(Single(_transferPort.TakeAll())));

        // Backoff: the next timeout is twice as long.
        _time.Advance(TimeSpan.FromMilliseconds(199));
        Assert.Empty(_transferPort.TakeAll());
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Single(_transferPort.TakeAll());

        _time.Advance(TimeSpan.FromMilliseconds(400));
        Assert.Single(_transferPort.TakeAll());
        _time.Advance(TimeSpan.FromMilliseconds(800));

        var last = Single(_transferPort.TakeAll());
        Assert.True(TftpError.TryRead(last, out _, out _));
        Assert.Equal(TftpTransferOutcome.TimedOut, Result(transfer).Outcome);
        Assert.Equal(3, Result(transfer).Retransmissions);
    }

    [Fact]
    public void Timer_LostAckThenRecovery_ContinuesWithoutDuplicates()
    {
        var content = Pattern(3000);
        var transfer = Request("f", content, [], Options() with { Timeout = TimeSpan.FromMilliseconds(50) })!;
        _transferPort.TakeAll();
        Ack(transfer, 1);
        _transferPort.TakeAll();

        // DATA 2 (or its ACK) is lost: the server resends DATA 2 after the timeout.
        _time.Advance(TimeSpan.FromMilliseconds(60));
        Assert.Equal(2, RecordingTransport.DataBlock(Single(_transferPort.TakeAll())));

        // The original ACK 2 arrives late, then the one for the retransmission: one DATA 3 only.
        Ack(transfer, 2);
        Ack(transfer, 2);
        Assert.Equal([3], _transferPort.TakeAll().Select(RecordingTransport.DataBlock));
    }

    [Fact]
    public void Ack_PartialWithinWindow_RestartsAfterAcknowledgedBlock()
    {
        var transfer = Request("f", Pattern(100 * 512), [new("windowsize", "4")])!;
        _transferPort.TakeAll();
        Ack(transfer, 0);
        Assert.Equal([1, 2, 3, 4], _transferPort.TakeAll().Select(RecordingTransport.DataBlock));

        // RFC 7440 section 4: the client got 1 and 2 only; resend from 3 with a full window.
        Ack(transfer, 2);
        Assert.Equal([3, 4, 5, 6], _transferPort.TakeAll().Select(RecordingTransport.DataBlock));
        Assert.Equal(4, transfer.Burst);

        // A reordered, older ACK is stale: nothing happens.
        Ack(transfer, 1);
        Assert.Empty(_transferPort.TakeAll());
    }

    [Fact]
    public void Timer_WindowTimeout_ShrinksBurstThenRegrows()
    {
        var transfer = Request("f", Pattern(400 * 512), [new("windowsize", "8")], Options() with { Timeout = TimeSpan.FromMilliseconds(50) })!;
        _transferPort.TakeAll();
        Ack(transfer, 0);
        Assert.Equal(8, _transferPort.TakeAll().Count);

        // The whole window is lost: after the timeout the window is resent in bursts of 4.
        _time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal([1, 2, 3, 4], _transferPort.TakeAll().Select(RecordingTransport.DataBlock));
        Assert.Equal(4, transfer.Burst);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([5, 6, 7, 8], _transferPort.TakeAll().Select(RecordingTransport.DataBlock));

        // Clean flights grow the burst back to the window, one block per flight.
        long acked = 8;
        Ack(transfer, 8);
        for (var flight = 0; flight < 6; flight++)
        {
            var sent = new List<byte[]>();
            for (var i = 0; i < 8 && sent.Count < 8; i++)
            {
                sent.AddRange(_transferPort.TakeAll());
                if (sent.Count < 8)
                {
                    _time.Advance(TimeSpan.FromMilliseconds(1));
                }
            }

            Assert.Equal(8, sent.Count);
            acked += 8;
            Ack(transfer, (ushort)acked);
        }

        Assert.Equal(8, transfer.Burst);
        Assert.Equal(8, _transferPort.TakeAll().Count);
    }

    [Fact]
    public void Timer_SecondTimeoutWithWindow_ExtendsFlightByOneWindow()
    {
        var transfer = Request("f", Pattern(100 * 512), [new("windowsize", "4")], Options() with { Timeout = TimeSpan.FromMilliseconds(50) })!;
        _transferPort.TakeAll();
        Ack(transfer, 0);
        Assert.Equal([1, 2, 3, 4], _transferPort.TakeAll().Select(RecordingTransport.DataBlock));

        // First timeout: the window again, in bursts of 2.
        _time.Advance(TimeSpan.FromMilliseconds(50));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([1, 2, 3, 4], _transferPort.TakeAll().Select(RecordingTransport.DataBlock));

        // Second timeout: the window and the one after it (the client may hold the whole window
        // and wait for block 5 while its ACK was lost), in bursts of 1.
        var sent = new List<ushort>();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        for (var i = 0; i < 10; i++)
        {
            sent.AddRange(_transferPort.TakeAll().Select(RecordingTransport.DataBlock));
            _time.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], sent);

        // The client acknowledges 8: it had 1..4 all along; the transfer goes on from 9.
        Ack(transfer, 8);
        Assert.Equal(9, RecordingTransport.DataBlock(_transferPort.TakeAll()[0]));
    }

    [Fact]
    public void Transfer_PastBlock65535_RollsOverToZero()
    {
        // 65540 blocks of 8 octets, window 16: block numbers wrap 65535 -> 0 -> 1.
        var content = Pattern((65540 * 8) + 3);
        var transfer = Request("f", content, [new("blksize", "8"), new("windowsize", "16")], Options() with { MaxWindowSize = 16 })!;
        _transferPort.TakeAll();
        Ack(transfer, 0);
        var received = new MemoryStream();
        var wire = new List<ushort>();
        while (!transfer.Completion.IsCompleted)
        {
            var flight = _transferPort.TakeAll();
            Assert.NotEmpty(flight);
            foreach (var d in flight)
            {
                Assert.True(TftpData.TryRead(d, out var data, out _));
                wire.Add(data.Block);
                received.Write(data.Payload);
            }

            Ack(transfer, wire[^1]);
        }

        Assert.Equal(TftpTransferOutcome.Completed, Result(transfer).Outcome);
        Assert.Equal(content, received.ToArray());
        var at = wire.IndexOf(65535);
        Assert.Equal([65535, 0, 1], wire.Skip(at).Take(3));
        Assert.Equal(65541, wire.Count);
    }

    [Fact]
    public void OnDatagram_WrongTid_AnswersErrorFiveAndContinues()
    {
        var transfer = Request("f", Pattern(2000), [])!;
        _transferPort.TakeAll();

        transfer.OnDatagram(AckBytes(1), Stranger);
        var (error, destination) = Assert.Single(_transferPort.Sent);
        _transferPort.Sent.Clear();
        Assert.Equal(Stranger, destination);
        Assert.True(TftpError.TryRead(error, out var parsed, out _));
        Assert.Equal(TftpErrorCode.UnknownTransferId, parsed.Code);

        Ack(transfer, 1);
        Assert.Equal(2, RecordingTransport.DataBlock(Single(_transferPort.TakeAll())));
        Assert.False(transfer.Completion.IsCompleted);
    }

    [Fact]
    public void OnDatagram_ClientError_EndsTransfer()
    {
        var transfer = Request("f", Pattern(2000), [])!;
        var error = new byte[64];
        new TftpError(TftpErrorCode.DiskFull, "full").TryWrite(error, out var n);
        transfer.OnDatagram(error.AsSpan(0, n), Client);
        Assert.Equal(TftpTransferOutcome.ClientError, Result(transfer).Outcome);
    }

    [Fact]
    public void Rto_FastAcks_ConvergesToFloorAndClientTimeoutCapsIt()
    {
        var transfer = Request("f", Pattern(200 * 512), [new("timeout", "1")], Options() with { Timeout = TimeSpan.FromMilliseconds(500), Retries = 20 })!;
        _transferPort.TakeAll();
        _time.Advance(TimeSpan.FromMilliseconds(2));
        Ack(transfer, 0);
        for (ushort b = 1; b <= 20; b++)
        {
            _transferPort.TakeAll();
            _time.Advance(TimeSpan.FromMilliseconds(2));
            Ack(transfer, b);
        }

        Assert.Equal(Options().MinTimeout, transfer.RetransmissionTimeout);

        // Repeated timeouts double the timeout up to the client's RFC 2349 value (1 s), no further.
        for (var i = 0; i < 10; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(TimeSpan.FromSeconds(1), transfer.RetransmissionTimeout);
        Assert.False(transfer.Completion.IsCompleted);
    }

    [Fact]
    public void Transfer_Netascii_ConvertsLineEnds()
    {
        var text = Encoding.ASCII.GetBytes("a\nb\rc");
        var transfer = Request("f", text, [new("tsize", "0")], mode: "netascii")!;

        // tsize of a netascii transfer is unknown in advance: not acknowledged, so no OACK at all.
        var received = RunLockstep(transfer, out _);
        Assert.Equal("a\r\nb\r\0c"u8.ToArray(), received);
    }

    [Fact]
    public void HandleRequest_WriteRequest_AnswersAccessViolation()
    {
        var server = Server(Options());
        var wrq = RequestBytes(TftpOpcode.WriteRequest, "f", "octet", []);
        Assert.Null(server.HandleRequest(wrq, Client, _requestPort, () => _transferPort));
        AssertError(TftpErrorCode.AccessViolation);
        Assert.Equal(TftpRefusal.WriteRequest, Assert.Single(_observer.Refusals));
    }

    [Fact]
    public void HandleRequest_MissingFile_AnswersFileNotFound()
    {
        var server = Server(Options());
        Assert.Null(server.HandleRequest(RequestBytes(TftpOpcode.ReadRequest, "nope", "octet", []), Client, _requestPort, () => _transferPort));
        AssertError(TftpErrorCode.FileNotFound);
    }

    [Fact]
    public void HandleRequest_Traversal_AnswersAccessViolation()
    {
        var server = Server(Options());
        Assert.Null(server.HandleRequest(RequestBytes(TftpOpcode.ReadRequest, "../f", "octet", []), Client, _requestPort, () => _transferPort));
        AssertError(TftpErrorCode.AccessViolation);
    }

    [Fact]
    public void HandleRequest_BeyondMaxSessions_AnswersServerBusy()
    {
        var server = Server(Options() with { MaxSessions = 2 });
        var rrq = RequestBytes(TftpOpcode.ReadRequest, "f", "octet", []);
        Assert.NotNull(server.HandleRequest(rrq, Client, _requestPort, () => _transferPort));
        Assert.NotNull(server.HandleRequest(rrq, Stranger, _requestPort, () => _transferPort));
        Assert.Null(server.HandleRequest(rrq, RecordingTransport.Address("127.0.0.1:40002"), _requestPort, () => _transferPort));
        var (datagram, _) = Assert.Single(_requestPort.Sent);
        Assert.True(TftpError.TryRead(datagram, out var error, out _));
        Assert.Equal("server busy", error.Message);
        Assert.Equal(2, server.ActiveTransfers);
    }

    [Fact]
    public void HandleRequest_MalformedOrStray_DropsAndCounts()
    {
        var server = Server(Options());
        Assert.Null(server.HandleRequest([0, 9, 1], Client, _requestPort, () => _transferPort));
        Assert.Null(server.HandleRequest(AckBytes(1), Client, _requestPort, () => _transferPort));
        Assert.Empty(_requestPort.Sent);
        Assert.Equal(1, _observer.Drops[TftpDropReason.Malformed]);
        Assert.Equal(1, _observer.Drops[TftpDropReason.Unexpected]);
    }

    [Fact]
    public void Transfer_FileChangedInPlace_EndsWithErrorInsteadOfMix()
    {
        var changed = false;
        var source = new DelegateFileSource(_ => TftpFileLookup.Found(new TftpFile(new MemoryStream(Pattern(2000)), 2000, () => !changed)));
        var server = new TftpServer(Options(), source, _time, _observer);
        var transfer = server.HandleRequest(RequestBytes(TftpOpcode.ReadRequest, "f", "octet", []), Client, _requestPort, () => _transferPort)!;
        _transferPort.TakeAll();
        changed = true;
        Ack(transfer, 1);
        Ack(transfer, 2);
        Ack(transfer, 3);
        Assert.Equal(TftpTransferOutcome.ReadError, Result(transfer).Outcome);
        Assert.True(TftpError.TryRead(_transferPort.Sent[^1].Datagram, out var error, out _));
        Assert.Equal("file changed during transfer", error.Message);
    }

    [Fact]
    public void Negotiate_Limits_CapAndIgnore()
    {
        var options = Options() with { MaxBlockSize = 1468, MaxWindowSize = 16 };
        var n = TftpNegotiation.Negotiate(new TftpRequest(TftpOpcode.ReadRequest, "f", "octet", [new("BLKSIZE", "65464"), new("windowsize", "64"), new("timeout", "0")]), options, 10);
        Assert.Equal(1468, n.BlockSize);
        Assert.Equal(16, n.WindowSize);
        Assert.Null(n.ClientTimeout);
        Assert.Equal([new TftpOption("blksize", "1468"), new TftpOption("windowsize", "16")], n.OptionAck!.Options);

        var tooSmall = TftpNegotiation.Negotiate(new TftpRequest(TftpOpcode.ReadRequest, "f", "octet", [new("blksize", "4"), new("x", "y")]), options, 10);
        Assert.Equal(512, tooSmall.BlockSize);
        Assert.Null(tooSmall.OptionAck);
    }

    private TftpServer Server(TftpServerOptions options, byte[]? content = null)
    {
        var files = new GeneratedFileSource().Map("f", () => content ?? Pattern(100_000));
        return new TftpServer(options, files, _time, _observer);
    }

    private TftpReadTransfer? Request(string name, byte[] content, TftpOption[] options, TftpServerOptions? serverOptions = null, string mode = "octet")
    {
        var server = Server(serverOptions ?? Options(), content);
        return server.HandleRequest(RequestBytes(TftpOpcode.ReadRequest, name, mode, options), Client, _requestPort, () => _transferPort);
    }

    private static TftpServerOptions Options() => new() { MaxWindowSize = 64, MaxBlockSize = 65464 };

    private byte[] RunLockstep(TftpReadTransfer transfer, out int blocks)
    {
        var received = new MemoryStream();
        blocks = 0;
        while (!transfer.Completion.IsCompleted)
        {
            var packet = Single(_transferPort.TakeAll());
            if (TftpOptionAck.TryRead(packet, out _, out _))
            {
                Ack(transfer, 0);
                continue;
            }

            Assert.True(TftpData.TryRead(packet, out var data, out _));
            received.Write(data.Payload);
            blocks++;
            Ack(transfer, data.Block);
        }

        Assert.Equal(TftpTransferOutcome.Completed, Result(transfer).Outcome);
        return received.ToArray();
    }

    private TftpError AssertError(TftpErrorCode code)
    {
        var (datagram, destination) = Assert.Single(_requestPort.Sent);
        Assert.Equal(Client, destination);
        Assert.True(TftpError.TryRead(datagram, out var error, out _));
        Assert.Equal(code, error.Code);
        return error;
    }

    private static TftpTransferResult Result(TftpReadTransfer transfer)
    {
        Assert.True(transfer.Completion.IsCompleted);
        return transfer.Completion.Result;
    }

    private static void Ack(TftpReadTransfer transfer, ushort block) => transfer.OnDatagram(AckBytes(block), Client);

    private static byte[] AckBytes(ushort block)
    {
        var bytes = new byte[4];
        new TftpAck(block).TryWrite(bytes, out _);
        return bytes;
    }

    private static byte[] RequestBytes(TftpOpcode opcode, string name, string mode, TftpOption[] options)
    {
        var buffer = new byte[1024];
        Assert.True(new TftpRequest(opcode, name, mode, options).TryWrite(buffer, out var n));
        return buffer[..n];
    }

    private static byte[] Single(List<byte[]> datagrams) => Assert.Single(datagrams);

    internal static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 31) + (i >> 8));
        }

        return bytes;
    }

    private sealed class DelegateFileSource(Func<string, TftpFileLookup> open) : ITftpFileSource
    {
        public TftpFileLookup Open(string requestedName) => open(requestedName);
    }

    private sealed class CountingObserver : TftpServerObserver
    {
        public int Active { get; private set; }

        public Dictionary<TftpDropReason, int> Drops { get; } = Enum.GetValues<TftpDropReason>().ToDictionary(r => r, _ => 0);

        public List<TftpRefusal> Refusals { get; } = [];

        public override void TransferStarted(TftpTransferInfo info) => Active++;

        public override void TransferEnded(TftpTransferResult result) => Active--;

        public override void PacketDropped(TftpDropReason reason) => Drops[reason]++;

        public override void RequestRefused(IPEndPoint client, string fileName, TftpRefusal refusal, string detail) => Refusals.Add(refusal);
    }
}
