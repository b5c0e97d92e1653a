using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Dhcp6.Server;

/// <summary>
/// The DHCPv6 receive loop, with <see cref="DhcpServer"/>'s group commit: ADVERTISEs and answers that
/// promise nothing go out at once; REPLYs that grant, extend or give up a binding wait for a flusher
/// thread, which makes the whole batch durable with one <see cref="IDhcp6LeaseStore.Flush"/> and only
/// then sends them. It runs over the same <see cref="IDhcpTransport"/> seam as DHCPv4.
/// </summary>
public sealed class Dhcp6Server(Dhcp6Engine engine, IDhcp6LeaseStore store, IDhcpTransport transport)
{
    private readonly Lock _gate = new();
    private readonly AutoResetEvent _wake = new(false);
    private List<Dhcp6Reply> _pending = [];

    /// <summary>Called after each datagram (for logging in the host); exceptions it throws are ignored.</summary>
    public Action<DhcpDatagram, Dhcp6Outcome>? Observer { get; set; }

    /// <summary>Called when sending a reply fails; the loop goes on.</summary>
    public Action<Dhcp6Reply, Exception>? SendFailed { get; set; }

    /// <summary>Called when the lease store cannot flush: the replies of that batch are not sent.</summary>
    public Action<Exception>? FlushFailed { get; set; }

    public Dhcp6Engine Engine => engine;

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
            Name = "dhcp6-lease-flush",
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
    public IReadOnlyList<Dhcp6Reply> HandleBatch(IEnumerable<DhcpDatagram> datagrams)
    {
        ArgumentNullException.ThrowIfNull(datagrams);
        var replies = new List<Dhcp6Reply>();
        foreach (var d in datagrams)
        {
            if (engine.Handle(d.Buffer.AsSpan(0, d.Length), d.Source).Reply is { } reply)
            {
                replies.Add(reply);
            }
        }

        store.Flush();
        return replies;
    }

    private void HandleOne(DhcpDatagram datagram)
    {
        var outcome = engine.Handle(datagram.Buffer.AsSpan(0, datagram.Length), datagram.Source);
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
        List<Dhcp6Reply> ready;
        lock (_gate)
        {
            ready = _pending;
            _pending = [];
        }

        try
        {
            store.Flush();
        }
        catch (Exception e)
        {
            FlushFailed?.Invoke(e);
            return;
        }

        foreach (var reply in ready)
        {
            Send(reply);
        }
    }

    private void Send(Dhcp6Reply reply)
    {
        try
        {
            transport.Send(reply.Payload, reply.Destination, Dhcp6Engine.ServerPort);
        }
        catch (Exception e)
        {
            SendFailed?.Invoke(reply, e);
        }
    }
}
