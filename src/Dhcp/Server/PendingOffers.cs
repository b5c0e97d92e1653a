using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>
/// Addresses offered but not yet requested. Each offer expires after the offer lifetime, and the table
/// is bounded both in total and per subnet, so a DISCOVER flood from random MACs can hold neither
/// unbounded memory nor the whole pool. Not thread-safe: the engine serialises access.
/// </summary>
internal sealed class PendingOffers(int maxTotal, int[] maxPerSubnet)
{
    private readonly Dictionary<string, Offer> _byClient = [];
    private readonly Dictionary<uint, string> _byAddress = [];
    private readonly Queue<(string ClientId, DateTimeOffset Expires)> _expiry = new();
    private readonly int[] _perSubnet = new int[maxPerSubnet.Length];

    internal readonly record struct Offer(Ipv4Address Address, DateTimeOffset Expires, int SubnetIndex);

    public int Count => _byClient.Count;

    /// <summary>The offers not yet expired at <paramref name="now"/>.</summary>
    public IEnumerable<Offer> Live(DateTimeOffset now) => _byClient.Values.Where(o => o.Expires > now);

    public bool TryGet(string clientId, DateTimeOffset now, out Offer offer) =>
        _byClient.TryGetValue(clientId, out offer) && offer.Expires > now;

    /// <summary>True when <paramref name="address"/> is offered, unexpired, to a client other than <paramref name="clientId"/>.</summary>
    public bool IsOfferedToOther(Ipv4Address address, string clientId, DateTimeOffset now) =>
        _byAddress.TryGetValue(address.Value, out var holder) && holder != clientId
        && _byClient.TryGetValue(holder, out var offer) && offer.Expires > now;

    /// <summary>
    /// Makes room for one more offer in <paramref name="subnetIndex"/>: expired offers go first, then the
    /// oldest live ones. A flood therefore recycles its own offers instead of locking out real clients.
    /// Returns the number of live offers evicted.
    /// </summary>
    public int MakeRoom(int subnetIndex, DateTimeOffset now)
    {
        Sweep(now);
        var evicted = 0;
        var guard = _expiry.Count;
        while ((_byClient.Count >= maxTotal || _perSubnet[subnetIndex] >= maxPerSubnet[subnetIndex]) && guard-- > 0 && _expiry.TryDequeue(out var head))
        {
            if (!_byClient.TryGetValue(head.ClientId, out var current) || current.Expires != head.Expires)
            {
                continue;
            }

            if (_byClient.Count >= maxTotal || current.SubnetIndex == subnetIndex)
            {
                Remove(head.ClientId);
                evicted++;
            }
            else
            {
                _expiry.Enqueue(head);
            }
        }

        return evicted;
    }

    public void Add(string clientId, Ipv4Address address, DateTimeOffset expires, int subnetIndex)
    {
        Remove(clientId);
        _byClient[clientId] = new Offer(address, expires, subnetIndex);
        _byAddress[address.Value] = clientId;
        _perSubnet[subnetIndex]++;
        _expiry.Enqueue((clientId, expires));
    }

    public void Remove(string clientId)
    {
        if (_byClient.Remove(clientId, out var old))
        {
            _perSubnet[old.SubnetIndex]--;
            if (_byAddress.TryGetValue(old.Address.Value, out var holder) && holder == clientId)
            {
                _byAddress.Remove(old.Address.Value);
            }
        }
    }

    /// <summary>Drops expired offers, oldest first; amortised O(1) per offer.</summary>
    public void Sweep(DateTimeOffset now)
    {
        while (_expiry.TryPeek(out var head) && head.Expires <= now)
        {
            _expiry.Dequeue();
            if (_byClient.TryGetValue(head.ClientId, out var current) && current.Expires == head.Expires)
            {
                Remove(head.ClientId);
            }
        }

        // Re-offers leave stale queue entries behind; keep the queue bounded by the live table.
        if (_expiry.Count > (4 * maxTotal) + 1024)
        {
            var live = _expiry.Where(e => _byClient.TryGetValue(e.ClientId, out var o) && o.Expires == e.Expires).ToList();
            _expiry.Clear();
            foreach (var e in live)
            {
                _expiry.Enqueue(e);
            }
        }
    }
}
