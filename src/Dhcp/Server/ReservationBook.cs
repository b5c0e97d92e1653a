using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>
/// Finds the reservation that applies to a request. Precedence: the hardware address, then the client
/// identifier (option 61), then option 82; among option 82 reservations, exact values before patterns,
/// then the order of configuration. Option 82 counts only in a relayed request (giaddr ≠ 0): a client
/// that is not behind a relay may write any option 82 it likes, and it proves nothing (RFC 3046 section
/// 2.1: the relay adds it; the same rule as <see cref="BootClient.From"/>).
/// </summary>
public sealed class ReservationBook
{
    private readonly Dictionary<string, DhcpReservation> _byHardwareAddress = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, DhcpReservation> _byClientId = new(StringComparer.Ordinal);
    private readonly List<DhcpReservation> _byRelayAgent;
    private readonly Dictionary<uint, DhcpReservation> _byAddress = [];

    public ReservationBook(IEnumerable<DhcpReservation> reservations)
    {
        ArgumentNullException.ThrowIfNull(reservations);
        var relayed = new List<DhcpReservation>();
        foreach (var r in reservations)
        {
            _byAddress.TryAdd(r.Address.Value, r);
            switch (r.Kind)
            {
                case DhcpReservationKind.HardwareAddress:
                    _byHardwareAddress.TryAdd(r.HardwareAddress!, r);
                    break;
                case DhcpReservationKind.ClientId:
                    _byClientId.TryAdd(Convert.ToHexString(r.ClientId!), r);
                    break;
                default:
                    if (r.CircuitId is not null || r.RemoteId is not null)
                    {
                        relayed.Add(r);
                    }

                    break;
            }
        }

        // Stable sort: exact values first, configuration order within each group.
        _byRelayAgent = [.. relayed.OrderBy(r => (r.CircuitId?.IsPattern ?? false) || (r.RemoteId?.IsPattern ?? false) ? 1 : 0)];
    }

    public int Count => _byAddress.Count;

    /// <summary>True when some reservation holds <paramref name="address"/>: it never comes from a pool.</summary>
    public bool IsReserved(Ipv4Address address) => _byAddress.ContainsKey(address.Value);

    /// <summary>The reservation holding <paramref name="address"/>, if any.</summary>
    public DhcpReservation? ForAddress(Ipv4Address address) => _byAddress.GetValueOrDefault(address.Value);

    /// <summary>The reservation for this request, by the precedence above; null when none applies.</summary>
    public DhcpReservation? Find(DhcpMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_byHardwareAddress.TryGetValue(request.HardwareAddressText, out var byMac))
        {
            return byMac;
        }

        if (_byClientId.Count > 0 && request.Options.Get(DhcpOptionCode.ClientIdentifier) is { Length: > 0 } id
            && _byClientId.TryGetValue(Convert.ToHexString(id), out var byId))
        {
            return byId;
        }

        if (_byRelayAgent.Count == 0 || TrustedRelayInformation(request) is not { } info)
        {
            return null;
        }

        foreach (var r in _byRelayAgent)
        {
            if ((r.CircuitId is null || r.CircuitId.Matches(info.CircuitId)) && (r.RemoteId is null || r.RemoteId.Matches(info.RemoteId)))
            {
                return r;
            }
        }

        return null;
    }

    /// <summary>Option 82 of a relayed request (giaddr ≠ 0); null for a request that came straight from a client.</summary>
    public static RelayAgentInformation? TrustedRelayInformation(DhcpMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.RelayAddress.IsAny ? null : request.Options.RelayAgentInformation;
    }
}
