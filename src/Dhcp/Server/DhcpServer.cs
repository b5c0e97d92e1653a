namespace Kldload.Dhcp.Server;

/// <summary>
/// The receive loop: lets the engine answer each datagram and sends OFFERs, NAKs and INFORM answers at
/// once. ACKs that grant a lease wait for a flusher thread, which makes every lease change durable with
/// one <see cref="ILeaseStore.Flush"/> and only then sends them (group commit). The loop never waits for
/// the disk, so a slow fsync delays ACKs a little and DISCOVERs not at all. A hostile datagram costs one
/// parse; nothing it contains can stop the loop.
/// </summary>
public sealed class DhcpServer(DhcpEngine engine, ILeaseStore store, IDhcpTransport transport)
{
    private readonly Lock _gate = new();
    private readonly AutoResetEvent _wake = new(false);
    private List<DhcpReply> _pending = [];
    private IReadOnlyList<DhcpLeaseConflict> _lastConflicts = [];

    /// <summary>Called after each datagram (for logging in the host); exceptions it throws are ignored.</summary>
    public Action<DhcpDatagram, DhcpOutcome>? Observer { get; set; }

    /// <summary>Called when sending a reply fails; the loop goes on.</summary>
    public Action<DhcpReply, Exception>? SendFailed { get; set; }

    /// <summary>Called when the lease store cannot flush: the ACKs of that batch are not sent.</summary>
    public Action<Exception>? FlushFailed { get; set; }

    public DhcpEngine Engine => engine;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var running = true;
        var flusher = new Thread(() =>
        {
            while (Volatile.Read(ref running))
            {
                _wake.WaitOne(TimeSpan.FromMilliseconds(200));
                FlushAndSend();
            }

            FlushAndSend();
        })
        {
            IsBackground = true,
            Name = "dhcp-lease-flush",
        };
        flusher.Start();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                DhcpDatagram datagram;
                try
                {
                    datagram = await transport.ReceiveAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                HandleOne(datagram);
                while (transport.TryReceive(out var next))
                {
                    HandleOne(next);
                }

                // Releases and declines have no ACK waiting; their changes are flushed with the next group.
                _wake.Set();
            }
        }
        finally
        {
            Volatile.Write(ref running, false);
            _wake.Set();
            flusher.Join(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Handles datagrams synchronously (no socket, no thread): for fuzzing and benchmarks.</summary>
    public IReadOnlyList<DhcpReply> HandleBatch(IEnumerable<DhcpDatagram> datagrams)
    {
        ArgumentNullException.ThrowIfNull(datagrams);
        var replies = new List<DhcpReply>();
        foreach (var d in datagrams)
        {
            if (engine.Handle(d.Buffer.AsSpan(0, d.Length), new DhcpReceiveContext(d.Source, d.LocalPort)).Reply is { } reply)
            {
                replies.Add(reply);
            }
        }

        var conflicts = store.FlushRefusingConflicts();
        if (conflicts.Count == 0)
        {
            return replies;
        }

        engine.LearnConflicts(conflicts);
        var granted = replies.Where(r => !Refused(r, conflicts, [])).ToList();
        for (var i = granted.Count; i < replies.Count; i++)
        {
            engine.Counters.CountDropped(DhcpDropReason.LeaseConflict);
        }

        return granted;
    }

    private void HandleOne(DhcpDatagram datagram)
    {
        var outcome = engine.Handle(datagram.Buffer.AsSpan(0, datagram.Length), new DhcpReceiveContext(datagram.Source, datagram.LocalPort));
        if (outcome.Reply is { } reply)
        {
            if (reply.NeedsDurableLease)
            {
                lock (_gate)
                {
                    _pending.Add(reply);
                }

                _wake.Set();
            }
            else
            {
                Send(reply);
            }
        }

        if (Observer is { } observer)
        {
            try
            {
                observer(datagram, outcome);
            }
            catch (Exception)
            {
                // Logging must never stop the loop.
            }
        }
    }

    private void FlushAndSend()
    {
        // Take the ACKs first: each was queued after its lease was saved, so the flush below covers it.
        List<DhcpReply> ready;
        lock (_gate)
        {
            ready = _pending;
            _pending = [];
        }

        IReadOnlyList<DhcpLeaseConflict> conflicts;
        try
        {
            conflicts = store.FlushRefusingConflicts();
        }
        catch (Exception e)
        {
            FlushFailed?.Invoke(e);
            return;
        }

        if (conflicts.Count > 0)
        {
            engine.LearnConflicts(conflicts);
        }

        // A lease saved after the replies were taken and before the flush had its ACK queued after
        // them: it is checked against this flush's refusals in the next round.
        var previous = _lastConflicts;
        _lastConflicts = conflicts;
        foreach (var reply in ready)
        {
            if (Refused(reply, conflicts, previous))
            {
                engine.Counters.CountDropped(DhcpDropReason.LeaseConflict);
                continue;
            }

            Send(reply);
        }
    }

    /// <summary>True when <paramref name="reply"/> is an ACK whose lease the store refused.</summary>
    private static bool Refused(DhcpReply reply, IReadOnlyList<DhcpLeaseConflict> conflicts, IReadOnlyList<DhcpLeaseConflict> previous)
    {
        if (!reply.NeedsDurableLease || (conflicts.Count == 0 && previous.Count == 0))
        {
            return false;
        }

        var address = reply.Message.YourAddress;
        var mac = reply.Message.HardwareAddressText;
        return conflicts.Concat(previous).Any(c => c.Refused.Address == address && string.Equals(c.Refused.HardwareAddress, mac, StringComparison.OrdinalIgnoreCase));
    }

    private void Send(DhcpReply reply)
    {
        try
        {
            transport.Send(reply.Payload, reply.Destination, reply.LocalPort);
        }
        catch (Exception e)
        {
            SendFailed?.Invoke(reply, e);
        }
    }
}
