using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Leases;

namespace Kldload.Provisioner.Api;

/// <summary>A DHCP lease as the admin API shows it (<c>GET /api/v1/leases</c>).</summary>
/// <param name="Address">The leased address.</param>
/// <param name="Subnet">The configured subnet holding it (CIDR); null when none does any longer.</param>
/// <param name="Mac">chaddr of the client (for a declined address: the client that declined it).</param>
/// <param name="ClientId">The client identity the server keys the lease on (<c>id:</c> option 61, <c>hw:</c> chaddr).</param>
/// <param name="State">Active, Expired, Released or Declined, as of the request.</param>
/// <param name="Expires">End of the lease (for a declined address: when it returns to the pool).</param>
/// <param name="HostName">Option 12 from the client, or the reservation's host name.</param>
/// <param name="RelayAddress">giaddr of the relay that forwarded the last request; null when not relayed.</param>
/// <param name="CircuitId">Option 82 circuit id from that relay (text when printable, else <c>hex:</c>).</param>
/// <param name="RemoteId">Option 82 remote id from that relay.</param>
/// <param name="Reservation">The reservation holding the address (<c>mac ..</c>, <c>client-id ..</c>, <c>circuit-id ..</c>).</param>
/// <param name="DeclinedAt">When the address was declined (declined records only).</param>
/// <param name="NodeId">The inventory node with this MAC, if any.</param>
/// <param name="NodeName">Its name.</param>
public sealed record LeaseView(
    string Address,
    string? Subnet,
    string Mac,
    string ClientId,
    DhcpLeaseStatus State,
    DateTimeOffset Expires,
    string? HostName,
    string? RelayAddress,
    string? CircuitId,
    string? RemoteId,
    string? Reservation,
    DateTimeOffset? DeclinedAt,
    string? NodeId,
    string? NodeName)
{
    public static LeaseView From(DhcpLeaseEntry entry, NodeRecord? node)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var lease = entry.Lease;
        RelayAgentInformation? relay = lease.RelayAgentInformation is { } raw && RelayAgentInformation.TryRead(raw, out var info) ? info : null;
        return new LeaseView(
            lease.Address.ToString(),
            entry.Subnet is { } s ? $"{s.Network}/{s.PrefixLength}" : null,
            lease.HardwareAddress,
            lease.ClientId,
            entry.Status,
            lease.Expires,
            lease.HostName,
            lease.RelayAddress.IsAny ? null : lease.RelayAddress.ToString(),
            relay?.CircuitId is { } c ? RelayIdMatch.Describe(c) : null,
            relay?.RemoteId is { } r ? RelayIdMatch.Describe(r) : null,
            entry.Reservation?.ToString(),
            entry.DeclinedAt,
            node?.Id,
            node?.Name);
    }
}

/// <summary>One page of <c>GET /api/v1/leases</c>: <paramref name="Total"/> leases matched the filters.</summary>
public sealed record LeasePage(int Total, int Offset, int Limit, IReadOnlyList<LeaseView> Leases);

/// <summary>
/// The admin API for DHCP leases (<c>/api/v1/leases</c>, bearer token): list with filters and paging,
/// show one, release one. Answers 409 while kldload owns no addresses (<c>Dhcp:Mode</c> not Full).
/// </summary>
public static class LeaseEndpoints
{
    /// <summary>The most leases one page holds.</summary>
    public const int MaxLimit = 1000;

    public static RouteGroupBuilder MapLeaseEndpoints(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/leases", List);
        api.MapGet("/leases/{address}", Show);
        api.MapDelete("/leases/{address}", Release);
        return api;
    }

    private static IResult List(DhcpLeases leases, NodeService nodes, string? subnet, string? mac, string? state, int? offset, int? limit)
    {
        if (leases.Query is not { } query)
        {
            return NoLeases();
        }

        IPNetwork? network = null;
        if (subnet is not null)
        {
            if (!IPNetwork.TryParse(subnet, out var n) || n.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
            {
                return NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "invalid subnet", $"subnet '{subnet}': an IPv4 network in CIDR notation, such as 10.0.0.0/24");
            }

            network = n;
        }

        string? wantedMac = null;
        if (mac is not null && (wantedMac = NodeService.NormaliseMac(mac)) is null)
        {
            return NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "invalid mac", $"mac '{mac}': a MAC address such as 52:54:00:12:34:56");
        }

        DhcpLeaseStatus? wantedState = null;
        if (state is not null)
        {
            if (!Enum.TryParse<DhcpLeaseStatus>(state, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed) || int.TryParse(state, out _))
            {
                return NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "invalid state", $"state '{state}': allowed: {string.Join(", ", Enum.GetNames<DhcpLeaseStatus>())}");
            }

            wantedState = parsed;
        }

        var from = Math.Max(offset ?? 0, 0);
        var take = Math.Clamp(limit ?? 100, 1, MaxLimit);
        var matched = query.ListLeases()
            .Where(e => network is null || network.Value.Contains(e.Lease.Address.ToIPAddress()))
            .Where(e => wantedMac is null || string.Equals(NodeService.NormaliseMac(e.Lease.HardwareAddress), wantedMac, StringComparison.Ordinal))
            .Where(e => wantedState is null || e.Status == wantedState)
            .ToList();
        var page = matched.Skip(from).Take(take).Select(e => LeaseView.From(e, NodeOf(nodes, e))).ToList();
        return Results.Ok(new LeasePage(matched.Count, from, take, page));
    }

    private static IResult Show(string address, DhcpLeases leases, NodeService nodes)
    {
        if (leases.Query is not { } query)
        {
            return NoLeases();
        }

        if (!TryParseAddress(address, out var a))
        {
            return BadAddress(address);
        }

        return query.FindLease(a) is { } entry ? Results.Ok(LeaseView.From(entry, NodeOf(nodes, entry))) : NoLease(address);
    }

    /// <summary>
    /// Puts the address back in the pool now and records it in the node's history with the actor. A
    /// client still using it gets it back at its next renewal if nobody else has taken it meanwhile.
    /// </summary>
    private static IResult Release(string address, DhcpLeases leases, NodeService nodes, HttpContext http)
    {
        if (leases.Query is not { } query)
        {
            return NoLeases();
        }

        if (!TryParseAddress(address, out var a))
        {
            return BadAddress(address);
        }

        if (query.FindLease(a) is null)
        {
            return NoLease(address);
        }

        if (query.ReleaseLease(a) is not { } before)
        {
            var now = query.FindLease(a);
            return NodeEndpoints.Problem(StatusCodes.Status409Conflict, "not held", $"the lease of {address} is {now?.Status.ToString() ?? "gone"}: only an Active or Declined address can be released");
        }

        var actor = NodeEndpoints.Actor(http);
        if (NodeOf(nodes, before) is { } node)
        {
            var what = before.Status == DhcpLeaseStatus.Declined ? "declined address" : "DHCP lease";
            nodes.Record(node, NodeEventKind.Operator, $"{what} {address} ({before.Lease.HardwareAddress}) released: the address is back in the pool", actor, "lease-release");
        }

        var after = query.FindLease(a)!;
        return Results.Ok(LeaseView.From(after, NodeOf(nodes, after)));
    }

    private static NodeRecord? NodeOf(NodeService nodes, DhcpLeaseEntry entry) =>
        NodeService.NormaliseMac(entry.Lease.HardwareAddress) is { } mac ? nodes.Store.FindByMac(mac) : null;

    private static bool TryParseAddress(string text, out Ipv4Address address)
    {
        address = default;
        if (!IPAddress.TryParse(text, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork || text.Count(c => c == '.') != 3)
        {
            return false;
        }

        address = Ipv4Address.FromIPAddress(ip);
        return true;
    }

    private static IResult NoLeases() => NodeEndpoints.Problem(StatusCodes.Status409Conflict, "no leases",
        "kldload owns no addresses: Dhcp:Mode is not Full");

    private static IResult NoLease(string address) => NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found",
        $"no lease record for {address}");

    private static IResult BadAddress(string address) => NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "invalid address",
        string.Create(CultureInfo.InvariantCulture, $"'{address}': an IPv4 address such as 10.0.0.100"));
}
