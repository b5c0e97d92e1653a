using System.Net;
using System.Net.Sockets;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Leases;

namespace Kldload.Provisioner.Api;

/// <summary>A DHCPv6 lease as the admin API shows it (<c>GET /api/v1/leases6</c>).</summary>
/// <param name="Address">The leased IPv6 address (IA_NA).</param>
/// <param name="Duid">The client's DUID, hex with colons.</param>
/// <param name="Iaid">The IAID of the IA_NA holding it.</param>
/// <param name="Mac">The client's MAC when its DUID, its relay (RFC 6939) or its EUI-64 link-local address named it; null otherwise.</param>
/// <param name="State">Active, Expired, Released or Declined, as of the request.</param>
/// <param name="Expires">End of the valid lifetime (for a declined address: when it returns to the pool).</param>
/// <param name="RelayLinkAddress">The first-hop relay's link-address; null when the client was on kldload's link.</param>
/// <param name="NodeId">The inventory node with this MAC, if any.</param>
/// <param name="NodeName">Its name.</param>
public sealed record Lease6View(
    string Address,
    string Duid,
    uint Iaid,
    string? Mac,
    DhcpLeaseStatus State,
    DateTimeOffset Expires,
    string? RelayLinkAddress,
    string? NodeId,
    string? NodeName)
{
    public static Lease6View From(Dhcp6Lease lease, DateTimeOffset now, NodeRecord? node)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return new Lease6View(
            lease.Address.ToString(),
            lease.ClientDuid,
            lease.Iaid,
            lease.HardwareAddress.Length > 0 ? lease.HardwareAddress : null,
            StatusOf(lease, now),
            lease.Expires,
            lease.RelayLinkAddress?.ToString(),
            node?.Id,
            node?.Name);
    }

    /// <summary>The state a reader means: an Active record past its valid lifetime is Expired.</summary>
    public static DhcpLeaseStatus StatusOf(Dhcp6Lease lease, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return lease.State switch
        {
            DhcpLeaseState.Declined => DhcpLeaseStatus.Declined,
            DhcpLeaseState.Released => DhcpLeaseStatus.Released,
            _ => lease.Expires > now ? DhcpLeaseStatus.Active : DhcpLeaseStatus.Expired,
        };
    }
}

/// <summary>One page of <c>GET /api/v1/leases6</c>: <paramref name="Total"/> leases matched the filters.</summary>
public sealed record Lease6Page(int Total, int Offset, int Limit, IReadOnlyList<Lease6View> Leases);

/// <summary>
/// The admin API for DHCPv6 leases (<c>/api/v1/leases6</c>, bearer token): list in address order with
/// filters and paging, show one, release one. Answers 409 while kldload owns no IPv6 addresses (<c>Dhcp6:Mode</c> not Full).
/// </summary>
public static class Lease6Endpoints
{
    public static RouteGroupBuilder MapLease6Endpoints(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/leases6", List);
        api.MapGet("/leases6/{address}", Show);
        api.MapDelete("/leases6/{address}", Release);
        return api;
    }

    private static IResult List(Dhcp6Leases leases, NodeService nodes, TimeProvider time, string? mac, string? state, int? offset, int? limit)
    {
        if (leases.Snapshot() is not { } all)
        {
            return NoLeases();
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

        var now = time.GetUtcNow();
        var from = Math.Max(offset ?? 0, 0);
        var take = Math.Clamp(limit ?? 100, 1, LeaseEndpoints.MaxLimit);
        var matched = all
            .Where(l => wantedMac is null || string.Equals(NodeService.NormaliseMac(l.HardwareAddress), wantedMac, StringComparison.Ordinal))
            .Where(l => wantedState is null || Lease6View.StatusOf(l, now) == wantedState)
            .OrderBy(l => l.Address.GetAddressBytes(), ByteOrder.Instance)
            .ToList();
        var page = matched.Skip(from).Take(take).Select(l => Lease6View.From(l, now, NodeOf(nodes, l))).ToList();
        return Results.Ok(new Lease6Page(matched.Count, from, take, page));
    }

    private static IResult Show(string address, Dhcp6Leases leases, NodeService nodes, TimeProvider time)
    {
        if (!leases.Owned)
        {
            return NoLeases();
        }

        if (!IPAddress.TryParse(address, out var ip) || ip.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "invalid address", $"'{address}' is not an IPv6 address");
        }

        return leases.Find(ip) is { } lease
            ? Results.Ok(Lease6View.From(lease, time.GetUtcNow(), NodeOf(nodes, lease)))
            : NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"no DHCPv6 lease record for {ip}");
    }

    /// <summary>
    /// Puts an Active or Declined address back in the pool now and records it in the node's history with
    /// the actor, as <c>DELETE /api/v1/leases/{address}</c> does for DHCPv4.
    /// </summary>
    private static IResult Release(string address, Dhcp6Leases leases, NodeService nodes, TimeProvider time, HttpContext http)
    {
        if (!leases.Owned)
        {
            return NoLeases();
        }

        if (!IPAddress.TryParse(address, out var ip) || ip.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "invalid address", $"'{address}' is not an IPv6 address");
        }

        if (leases.Find(ip) is not { } current)
        {
            return NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"no DHCPv6 lease record for {ip}");
        }

        if (leases.Release(ip) is not { } before)
        {
            return NodeEndpoints.Problem(StatusCodes.Status409Conflict, "not held",
                $"the lease of {ip} is {Lease6View.StatusOf(leases.Find(ip) ?? current, time.GetUtcNow())}: only an Active or Declined address can be released");
        }

        if (NodeOf(nodes, before) is { } node)
        {
            var what = before.State == DhcpLeaseState.Declined ? "declined address" : "DHCPv6 lease";
            nodes.Record(node, NodeEventKind.Operator, $"{what} {ip} (DUID {before.ClientDuid}) released: the address is back in the pool", NodeEndpoints.Actor(http), "lease-release");
        }

        var after = leases.Find(ip)!;
        return Results.Ok(Lease6View.From(after, time.GetUtcNow(), NodeOf(nodes, after)));
    }

    private static NodeRecord? NodeOf(NodeService nodes, Dhcp6Lease lease) =>
        NodeService.NormaliseMac(lease.HardwareAddress) is { } mac ? nodes.Store.FindByMac(mac) : null;

    private static IResult NoLeases() => NodeEndpoints.Problem(StatusCodes.Status409Conflict, "no leases",
        "kldload owns no IPv6 addresses: Dhcp6:Mode is not Full (or DHCPv6 has not started)");

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
