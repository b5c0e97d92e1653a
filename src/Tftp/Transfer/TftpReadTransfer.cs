using System.Net;
using Kldload.Tftp.Files;
using Kldload.Tftp.Protocol;

namespace Kldload.Tftp.Transfer;

/// <summary>
/// Sends one file to one client (a read request), as a state machine driven by received datagrams
/// and one timer. It never touches a socket: datagrams go out through <see cref="ITftpTransport"/>
/// and time comes from <see cref="TimeProvider"/>, so tests run it with a fake clock.
/// <list type="bullet">
/// <item>Blocks are numbered 1, 2, ... and go on the wire modulo 65536, so block 65536 is sent as 0
/// (the rollover tftp-hpa and dnsmasq use).</item>
/// <item>A flight is up to windowsize blocks (RFC 7440); the next flight starts when its last block is
/// acknowledged. An ACK inside the flight restarts the window after the acknowledged block
/// (RFC 7440 section 4). An ACK for a block already acknowledged is ignored, never answered with
/// data (the Sorcerer's Apprentice fix, RFC 1123 section 4.2.3.1).</item>
/// <item>The retransmission timeout starts at <see cref="TftpServerOptions.Timeout"/>, follows the
/// measured round trip (RFC 6298 smoothing, Karn's rule: no samples from retransmitted blocks), is
/// capped by the client's RFC 2349 timeout, and doubles on each timeout in a row.</item>
/// <item>A flight goes out in bursts. After a timeout the burst halves; each clean
/// flight doubles it up to the window. Bursts after the first wait a millisecond, so a
/// client whose receive buffer is smaller than the window drains it instead of losing the same tail
/// again and again, while its ACK cadence (one per window) stays what was negotiated.</item>
/// <item>Memory is bounded by two windows of blocks (<see cref="TftpBlockRing"/>), read from the one
/// stream the file source opened.</item>
/// </list>
/// The round-trip estimate is <see cref="TftpRttEstimator"/>'s and the blocks in flight are
/// <see cref="TftpBlockRing"/>'s; this class owns the states (option ACK, flights, bursts, end).
/// </summary>
public sealed class TftpReadTransfer
{
    private static readonly TimeSpan BurstGap = TimeSpan.FromMilliseconds(1);

    private readonly Lock _gate = new();
    private readonly SocketAddress _client;
    private readonly IPEndPoint _clientEndPoint;
    private readonly string _fileName;
    private readonly TftpFile _file;
    private readonly Stream _content;
    private readonly TftpNegotiation _negotiation;
    private readonly TftpServerOptions _options;
    private readonly ITftpTransport _transport;
    private readonly TimeProvider _time;
    private readonly TftpServerObserver _observer;
    private readonly Action? _onEnded;
    private readonly TaskCompletionSource<TftpTransferResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ITimer _timer;

    private readonly int _blockSize;
    private readonly int _window;
    private readonly TftpBlockRing _ring;
    private readonly TftpRttEstimator _rtt;

    private readonly long _startedAt;
    private readonly TimeSpan _giveUpAfter;
    private readonly TimeSpan _optionAckTimeout;
    private long _lastProgress;

    private bool _awaitingOptionAck;
    private bool _optionAckResent;
    private long _optionAckSentAt;
    private long _acked;
    private long _nextToSend;
    private long _flightEnd;
    private int _burst;
    private bool _lossInFlight;
    private bool _pacing;
    private long _deadline;
    private int _timeouts;
    private long _retransmissions;
    private long _bytesAcknowledged;
    private bool _done;

    internal TftpReadTransfer(
        SocketAddress client,
        string fileName,
        TftpFile file,
        TftpNegotiation negotiation,
        TftpServerOptions options,
        ITftpTransport transport,
        TimeProvider time,
        TftpServerObserver observer,
        Action? onEnded)
    {
        _client = client;
        _clientEndPoint = (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(client);
        _fileName = fileName;
        _file = file;
        _content = negotiation.Netascii ? new NetasciiReadStream(file.Content) : file.Content;
        _negotiation = negotiation;
        _options = options;
        _transport = transport;
        _time = time;
        _observer = observer;
        _onEnded = onEnded;

        _blockSize = negotiation.BlockSize;
        _window = negotiation.WindowSize;
        _burst = _window;
        // Two windows: after repeated timeouts the flight spans two (see OnTimer).
        _ring = new TftpBlockRing(_blockSize, 2 * _window);

        var maxRto = negotiation.ClientTimeout ?? (options.MaxTimeout > options.Timeout ? options.MaxTimeout : options.Timeout);
        _rtt = new TftpRttEstimator(options.Timeout, options.MinTimeout, maxRto);
        _giveUpAfter = TftpRttEstimator.RetryBudget(options.Timeout, maxRto, options.Retries);

        // The OACK waits for ACK 0 longer than the client's own timer: a client whose ACK 0 was lost
        // sends it again when that timer fires, and some clients (atftp) abort on a second OACK.
        // A client that missed the OACK repeats its request, which resends the OACK at once.
        _optionAckTimeout = negotiation.ClientTimeout is { } clientTimeout ? clientTimeout + TimeSpan.FromSeconds(1) : options.OptionAckTimeout;
        _startedAt = time.GetTimestamp();
        _lastProgress = _startedAt;
        _timer = time.CreateTimer(static state => ((TftpReadTransfer)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Completes when the transfer ends, well or not; never faults.</summary>
    public Task<TftpTransferResult> Completion => _completion.Task;

    /// <summary>The client's address and port (its TID).</summary>
    public IPEndPoint Client => _clientEndPoint;

    /// <summary>The current retransmission timeout (for tests and diagnostics).</summary>
    public TimeSpan RetransmissionTimeout
    {
        get
        {
            lock (_gate)
            {
                return _rtt.Timeout;
            }
        }
    }

    /// <summary>Blocks currently sent back to back (for tests and diagnostics).</summary>
    public int Burst
    {
        get
        {
            lock (_gate)
            {
                return _burst;
            }
        }
    }

    /// <summary>Sends the OACK, or the first flight when no option was negotiated.</summary>
    public void Start()
    {
        lock (_gate)
        {
            if (_done)
            {
                return;
            }

            _observer.TransferStarted(new TftpTransferInfo(_clientEndPoint, _fileName, _negotiation.Netascii ? null : _file.Length, _blockSize, _window, _negotiation.OptionAck is not null));
            if (_negotiation.OptionAck is { } optionAck)
            {
                _awaitingOptionAck = true;
                SendOptionAck(optionAck);
                Arm(_optionAckTimeout);
            }
            else
            {
                SendFlight(1);
            }
        }
    }

    /// <summary>Handles one datagram that arrived on this transfer's port.</summary>
    public void OnDatagram(ReadOnlySpan<byte> datagram, SocketAddress source)
    {
        ArgumentNullException.ThrowIfNull(source);
        lock (_gate)
        {
            if (_done)
            {
                return;
            }

            if (!source.Equals(_client))
            {
                // RFC 1350 section 4: answer the stranger, leave the transfer alone.
                TftpErrorSender.Send(_transport, source, TftpErrorCode.UnknownTransferId, "unknown transfer ID");
                _observer.PacketDropped(TftpDropReason.UnknownTransferId);
                return;
            }

            if (!TftpPacket.TryReadOpcode(datagram, out var opcode))
            {
                _observer.PacketDropped(TftpDropReason.Malformed);
                return;
            }

            switch (opcode)
            {
                case TftpOpcode.Ack when TftpAck.TryRead(datagram, out var ack, out _):
                    OnAck(ack.Block);
                    break;
                case TftpOpcode.Error:
                    var message = TftpError.TryRead(datagram, out var error, out _) ? $"client sent ERROR {(ushort)error.Code}: {error.Message}" : "client sent ERROR";
                    End(TftpTransferOutcome.ClientError, message);
                    break;
                case TftpOpcode.Ack:
                    _observer.PacketDropped(TftpDropReason.Malformed);
                    break;
                default:
                    _observer.PacketDropped(TftpDropReason.Unexpected);
                    break;
            }
        }
    }

    /// <summary>
    /// The client sent its request again: it did not get the OACK. Resends the OACK while ACK 0 is
    /// still awaited; later repeats are ignored (the data already flows).
    /// </summary>
    public void OnRepeatedRequest()
    {
        lock (_gate)
        {
            if (_done || !_awaitingOptionAck)
            {
                _observer.PacketDropped(TftpDropReason.Unexpected);
                return;
            }

            _optionAckResent = true;
            _retransmissions++;
            _observer.Retransmitted(1);
            SendOptionAck(_negotiation.OptionAck!);
            Arm(_optionAckTimeout);
        }
    }

    /// <summary>Stops the transfer (server shutdown); the client gets ERROR 0.</summary>
    public void Cancel()
    {
        lock (_gate)
        {
            if (!_done)
            {
                TftpErrorSender.Send(_transport, _client, TftpErrorCode.NotDefined, "server shutting down");
                End(TftpTransferOutcome.Cancelled, "server shutting down");
            }
        }
    }

    private void OnAck(ushort wireBlock)
    {
        var now = _time.GetTimestamp();
        if (_awaitingOptionAck)
        {
            if (wireBlock != 0)
            {
                _observer.PacketDropped(TftpDropReason.Unexpected);
                return;
            }

            _awaitingOptionAck = false;
            _lastProgress = now;
            if (!_optionAckResent)
            {
                _rtt.Sample(_time.GetElapsedTime(_optionAckSentAt, now));
            }

            _timeouts = 0;
            SendFlight(1);
            return;
        }

        // The most recent block at or below the highest sent with this number modulo 65536.
        var block = _ring.FromWire(wireBlock);
        if (block <= _acked)
        {
            _observer.PacketDropped(TftpDropReason.DuplicateAck);
            return;
        }

        if (!_ring.WasResent(block))
        {
            _rtt.Sample(_time.GetElapsedTime(_ring.SentAt(block), now));
        }

        for (var b = _acked + 1; b <= block; b++)
        {
            _bytesAcknowledged += _ring.PayloadLength(b);
        }

        _acked = block;
        _timeouts = 0;
        _lastProgress = now;
        if (_acked == _ring.LastBlock)
        {
            End(TftpTransferOutcome.Completed, null);
            return;
        }

        if (block >= _flightEnd && !_lossInFlight && _burst < _window)
        {
            _burst = Math.Min(_window, _burst * 2);
        }
        // Otherwise (RFC 7440 section 4) the client missed a block: go on from the one after its
        // ACK. The burst stays: a block lost in the middle of a window is the path's loss, which
        // smaller bursts do not cure; an overflowing client buffer loses the tail of each window,
        // which the client cannot see, so that shows up as a timeout and halves the burst there.
        _lossInFlight = false;
        SendFlight(block + 1);
    }

    private void OnTimer()
    {
        lock (_gate)
        {
            if (_done)
            {
                return;
            }

            var early = _time.GetElapsedTime(_time.GetTimestamp(), _deadline);
            if (early > TimeSpan.Zero)
            {
                // A callback for an earlier arming that raced with a re-arm: wait for the real deadline.
                _timer.Change(early, Timeout.InfiniteTimeSpan);
                return;
            }

            if (_pacing)
            {
                Pump();
                return;
            }

            // Give up after Retries timeouts in a row, and not before the time those retries would
            // take at the configured timeout: a fast adaptive timeout must not end a transfer before a
            // slow client's own timer (atftp: seconds) resends the ACK that was lost.
            if (++_timeouts > _options.Retries && (_awaitingOptionAck || _time.GetElapsedTime(_lastProgress) >= _giveUpAfter))
            {
                TftpErrorSender.Send(_transport, _client, TftpErrorCode.NotDefined, "timed out");
                End(TftpTransferOutcome.TimedOut, $"no ACK after {_options.Retries} retransmissions");
                return;
            }

            _rtt.BackOff();
            _burst = Math.Max(1, _burst / 2);
            _lossInFlight = true;
            if (_awaitingOptionAck)
            {
                _optionAckResent = true;
                _retransmissions++;
                _observer.Retransmitted(1);
                SendOptionAck(_negotiation.OptionAck!);
                Arm(_optionAckTimeout);
            }
            else
            {
                // Lock-step (RFC 1350) clients answer a duplicate DATA with their ACK again and must
                // never see a block ahead of the one they wait for: only windowed flights extend.
                SendFlight(_acked + 1, extended: _timeouts >= 2 && _window > 1);
            }
        }
    }

    private void SendOptionAck(TftpOptionAck optionAck)
    {
        Span<byte> buffer = stackalloc byte[512];
        if (optionAck.TryWrite(buffer, out var written))
        {
            _optionAckSentAt = _time.GetTimestamp();
            _transport.Send(buffer[..written], _client);
        }
    }

    /// <summary>
    /// Sends blocks from <paramref name="first"/> to the end of the window. An extended flight (after
    /// a second timeout in a row) runs on for one more window. A client that has the whole window
    /// and whose ACK was lost then gets the blocks it waits for and acknowledges them; without
    /// them some clients (atftp) answer a resent window once and then wait for their own timer,
    /// seconds long, while one lost packet stalls the transfer. A client that misses a block gets
    /// it first. The window limit is exceeded only while the path is losing packets, and the
    /// halved bursts keep the extra window from arriving all at once.
    /// </summary>
    private void SendFlight(long first, bool extended = false)
    {
        var end = _acked + (extended ? 2 * _window : _window);
        if (!Fill(end))
        {
            return;
        }

        _nextToSend = first;
        _flightEnd = Math.Min(_ring.Read, end);
        Pump();
    }

    /// <summary>Reads blocks up to <paramref name="limit"/> (at most two windows past the acknowledged block), or to the end of the file.</summary>
    private bool Fill(long limit)
    {
        try
        {
            while (_ring.Read < limit && !_ring.EndRead)
            {
                if (_ring.ReadNext(_content) && !_file.IsUnchanged())
                {
                    TftpErrorSender.Send(_transport, _client, TftpErrorCode.NotDefined, "file changed during transfer");
                    End(TftpTransferOutcome.ReadError, "file changed during transfer");
                    return false;
                }
            }

            return true;
        }
        catch (IOException e)
        {
            TftpErrorSender.Send(_transport, _client, TftpErrorCode.NotDefined, "read error");
            End(TftpTransferOutcome.ReadError, e.Message);
            return false;
        }
    }

    private void Pump()
    {
        var sent = 0;
        long bytes = 0;
        while (_nextToSend <= _flightEnd && sent < _burst)
        {
            var block = _nextToSend++;
            SendBlock(block);
            bytes += _ring.PayloadLength(block);
            sent++;
        }

        if (sent > 0)
        {
            _observer.DataSent(sent, bytes);
        }

        _pacing = _nextToSend <= _flightEnd;
        Arm(_pacing ? BurstGap : _rtt.Timeout);
    }

    /// <summary>Sends one block from the ring, counting it as a retransmission when it was sent before.</summary>
    private void SendBlock(long block)
    {
        var datagram = _ring.Send(block, _time.GetTimestamp(), out var resent);
        if (resent)
        {
            _retransmissions++;
            _observer.Retransmitted(1);
        }

        _transport.Send(datagram, _client);
    }

    private void Arm(TimeSpan due)
    {
        _deadline = _time.GetTimestamp() + (long)(due.TotalSeconds * _time.TimestampFrequency);
        _timer.Change(due, Timeout.InfiniteTimeSpan);
    }

    private void End(TftpTransferOutcome outcome, string? detail)
    {
        _done = true;
        _timer.Dispose();
        _file.Dispose();
        _content.Dispose();
        _ring.Dispose();

        var result = new TftpTransferResult(
            _clientEndPoint,
            _fileName,
            outcome,
            _bytesAcknowledged,
            _blockSize,
            _window,
            _time.GetElapsedTime(_startedAt),
            _retransmissions,
            detail);
        _observer.TransferEnded(result);
        _onEnded?.Invoke();
        _completion.TrySetResult(result);
    }
}
