namespace Kldload.Dhcp.Server;

/// <summary>
/// The receive loop: takes datagrams from the transport in batches, lets the engine answer each,
/// makes the batch's lease changes durable with one <see cref="ILeaseStore.Flush"/>, and only then
/// sends the replies. A hostile datagram costs one parse; nothing it contains can stop the loop.
/// </summary>
public sealed class DhcpServer(DhcpEngine engine, ILeaseStore store, IDhcpTransport transport)
{
    /// <summary>Most datagrams handled between two flushes.</summary>
    public const int MaxBatch = 256;

    /// <summary>Called after each datagram (for logging in the host); exceptions it throws are ignored.</summary>
    public Action<DhcpDatagram, DhcpOutcome>? Observer { get; set; }

    /// <summary>Called when sending a reply fails; the loop goes on.</summary>
    public Action<DhcpReply, Exception>? SendFailed { get; set; }

    public DhcpEngine Engine => engine;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var replies = new List<DhcpReply>(MaxBatch);
        while (!cancellationToken.IsCancellationRequested)
        {
            DhcpDatagram first;
            try
            {
                first = await transport.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            HandleOne(first, replies);
            for (var n = 1; n < MaxBatch && transport.TryReceive(out var next); n++)
            {
                HandleOne(next, replies);
            }

            FlushAndSend(replies);
        }
    }

    /// <summary>Handles datagrams synchronously (no socket): for fuzzing and benchmarks.</summary>
    public IReadOnlyList<DhcpReply> HandleBatch(IEnumerable<DhcpDatagram> datagrams)
    {
        ArgumentNullException.ThrowIfNull(datagrams);
        var replies = new List<DhcpReply>();
        foreach (var d in datagrams)
        {
            HandleOne(d, replies);
        }

        store.Flush();
        return replies;
    }

    private void HandleOne(DhcpDatagram datagram, List<DhcpReply> replies)
    {
        var outcome = engine.Handle(datagram.Buffer.AsSpan(0, datagram.Length), new DhcpReceiveContext(datagram.Source, datagram.LocalPort));
        if (outcome.Reply is { } reply)
        {
            replies.Add(reply);
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

    private void FlushAndSend(List<DhcpReply> replies)
    {
        // Durable before any ACK leaves: a crash after this point loses nothing the client was told.
        store.Flush();
        foreach (var reply in replies)
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

        replies.Clear();
    }
}
