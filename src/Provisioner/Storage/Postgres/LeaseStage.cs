namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// The leases a PostgreSQL lease store has been given and not yet written, one per address (a later
/// save replaces an earlier one). Shared by the DHCPv4 and DHCPv6 stores: a flush swaps the stage
/// under its lock and writes outside it, so saves go on meanwhile, and a batch the database refuses
/// goes back into the stage unless a newer save of the same address came in. The batch being written
/// stays visible to <see cref="Over"/> until the write returns, so a reader never misses a lease that is
/// on its way to the database.
/// </summary>
internal sealed class LeaseStage<TKey, TLease>(Func<TLease, TKey> keyOf)
    where TKey : notnull
{
    private readonly Lock _lock = new();
    private readonly Lock _flushLock = new();
    private Dictionary<TKey, TLease> _staged = [];
    private Dictionary<TKey, TLease>? _inFlight;

    public void Add(TLease lease)
    {
        lock (_lock)
        {
            _staged[keyOf(lease)] = lease;
        }
    }

    /// <summary><paramref name="stored"/> with the staged leases over them.</summary>
    public IReadOnlyList<TLease> Over(IEnumerable<TLease> stored)
    {
        var leases = stored.ToDictionary(keyOf);
        lock (_lock)
        {
            foreach (var (key, lease) in _inFlight ?? [])
            {
                leases[key] = lease;
            }

            foreach (var (key, lease) in _staged)
            {
                leases[key] = lease;
            }
        }

        return [.. leases.Values];
    }

    /// <summary>Hands every staged lease to <paramref name="write"/> as one batch; on failure they stay staged and the error is rethrown.</summary>
    public void Flush(Action<IReadOnlyCollection<TLease>> write) =>
        Flush<bool>(batch =>
        {
            write(batch);
            return true;
        }, false);

    /// <summary>
    /// As <see cref="Flush(Action{IReadOnlyCollection{TLease}})"/>, returning what <paramref name="write"/>
    /// returns (<paramref name="empty"/> when nothing was staged). A lease the write refuses is its
    /// business: it is not staged again.
    /// </summary>
    public TResult Flush<TResult>(Func<IReadOnlyCollection<TLease>, TResult> write, TResult empty)
    {
        lock (_flushLock)
        {
            Dictionary<TKey, TLease> batch;
            lock (_lock)
            {
                if (_staged.Count == 0)
                {
                    return empty;
                }

                batch = _staged;
                _staged = [];
                _inFlight = batch;
            }

            try
            {
                return write(batch.Values);
            }
            catch
            {
                lock (_lock)
                {
                    foreach (var (key, lease) in batch)
                    {
                        _staged.TryAdd(key, lease);
                    }
                }

                throw;
            }
            finally
            {
                lock (_lock)
                {
                    _inFlight = null;
                }
            }
        }
    }
}
