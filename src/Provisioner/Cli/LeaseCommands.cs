using System.CommandLine;
using System.Globalization;
using Kldload.Provisioner.Api;
using Spectre.Console;

namespace Kldload.Provisioner.Cli;

/// <summary><c>kldload leases ...</c>: DHCP leases, over the admin API of a running kldload.</summary>
internal static class LeaseCommands
{
    public static Command Create()
    {
        var leases = new Command("leases", "List, show and release DHCP leases through a running kldload (admin API; token from Auth:AdminTokenFile).");
        var server = new Option<string?>("--server") { Description = "kldload URL (default Kldload:ServerUrl, else http://127.0.0.1:8080).", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print JSON for scripts instead of a table.", Recursive = true };
        leases.Options.Add(server);
        leases.Options.Add(json);

        var address = new Argument<string>("address") { Description = "The leased IPv4 address." };
        var subnet = new Option<string?>("--subnet") { Description = "Only leases in this subnet (CIDR)." };
        var mac = new Option<string?>("--mac") { Description = "Only leases of this MAC." };
        var state = new Option<string?>("--state") { Description = "Only leases in this state: Active, Expired, Released, Declined." };
        var offset = new Option<int?>("--offset") { Description = "Skip this many matching leases." };
        var limit = new Option<int?>("--limit") { Description = $"At most this many leases (1 to {LeaseEndpoints.MaxLimit}; default 100)." };

        var list = new Command("list", "List leases in address order, with filters and paging.") { subnet, mac, state, offset, limit };
        list.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var query = new List<string>();
            void Add(string name, string? value)
            {
                if (value is not null)
                {
                    query.Add($"{name}={Uri.EscapeDataString(value)}");
                }
            }

            Add("subnet", p.GetValue(subnet));
            Add("mac", p.GetValue(mac));
            Add("state", p.GetValue(state));
            Add("offset", p.GetValue(offset)?.ToString(CultureInfo.InvariantCulture));
            Add("limit", p.GetValue(limit)?.ToString(CultureInfo.InvariantCulture));
            var page = await c.GetAsync<LeasePage>("api/v1/leases" + (query.Count > 0 ? "?" + string.Join('&', query) : string.Empty), ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return NodeCommands.Json(page);
            }

            var table = new Table().AddColumns("ADDRESS", "STATE", "MAC", "EXPIRES", "HOST", "LOCATION", "RESERVED BY", "NODE");
            foreach (var l in page.Leases)
            {
                table.AddRow(l.Address, l.State.ToString(), l.Mac, l.Expires.ToString("u", CultureInfo.InvariantCulture), Markup.Escape(l.HostName ?? "-"),
                    Markup.Escape(Location(l) ?? "-"), Markup.Escape(l.Reservation ?? "-"), Markup.Escape(l.NodeName ?? "-"));
            }

            AnsiConsole.Write(table);
            Console.WriteLine($"{page.Leases.Count} of {page.Total} (offset {page.Offset})");
            return ExitCodes.Ok;
        }));

        var show = new Command("show", "Show one lease.") { address };
        show.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
            Print(p, json, await c.GetAsync<LeaseView>($"api/v1/leases/{Uri.EscapeDataString(p.GetValue(address)!)}", ct).ConfigureAwait(false))));

        var release = new Command("release", "Put an active or declined address back in the pool now (recorded in the node's history).") { address };
        release.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
            Print(p, json, await c.SendAsync<LeaseView>(HttpMethod.Delete, $"api/v1/leases/{Uri.EscapeDataString(p.GetValue(address)!)}", null, ct).ConfigureAwait(false))));

        var address6 = new Argument<string>("address") { Description = "The leased IPv6 address." };
        var show6 = new Command("show6", "Show one DHCPv6 lease.") { address6 };
        show6.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
            Print6(p, json, await c.GetAsync<Lease6View>($"api/v1/leases6/{Uri.EscapeDataString(p.GetValue(address6)!)}", ct).ConfigureAwait(false))));

        var release6 = new Command("release6", "Put an active or declined IPv6 address back in the pool now (recorded in the node's history).") { address6 };
        release6.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
            Print6(p, json, await c.SendAsync<Lease6View>(HttpMethod.Delete, $"api/v1/leases6/{Uri.EscapeDataString(p.GetValue(address6)!)}", null, ct).ConfigureAwait(false))));

        var list6 = new Command("list6", "List DHCPv6 leases (Dhcp6:Mode=Full) in address order, with filters and paging.") { mac, state, offset, limit };
        list6.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var query = new List<string>();
            void Add(string name, string? value)
            {
                if (value is not null)
                {
                    query.Add($"{name}={Uri.EscapeDataString(value)}");
                }
            }

            Add("mac", p.GetValue(mac));
            Add("state", p.GetValue(state));
            Add("offset", p.GetValue(offset)?.ToString(CultureInfo.InvariantCulture));
            Add("limit", p.GetValue(limit)?.ToString(CultureInfo.InvariantCulture));
            var page = await c.GetAsync<Lease6Page>("api/v1/leases6" + (query.Count > 0 ? "?" + string.Join('&', query) : string.Empty), ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return NodeCommands.Json(page);
            }

            var table = new Table().AddColumns("ADDRESS", "STATE", "MAC", "DUID", "IAID", "EXPIRES", "RELAY", "NODE");
            foreach (var l in page.Leases)
            {
                table.AddRow(l.Address, l.State.ToString(), l.Mac ?? "-", l.Duid, l.Iaid.ToString(CultureInfo.InvariantCulture), l.Expires.ToString("u", CultureInfo.InvariantCulture),
                    l.RelayLinkAddress ?? "-", Markup.Escape(l.NodeName ?? "-"));
            }

            AnsiConsole.Write(table);
            Console.WriteLine($"{page.Leases.Count} of {page.Total} (offset {page.Offset})");
            return ExitCodes.Ok;
        }));

        foreach (var c in new[] { list, show, release, list6, show6, release6 })
        {
            leases.Subcommands.Add(c);
        }

        return leases;
    }

    private static int Print(ParseResult p, Option<bool> json, LeaseView l)
    {
        if (p.GetValue(json))
        {
            return NodeCommands.Json(l);
        }

        var grid = new Grid().AddColumn().AddColumn();
        void Row(string name, string? value) => grid.AddRow(name, Markup.Escape(value ?? "-"));
        Row("Address", l.Address);
        Row("State", l.State.ToString());
        Row("Subnet", l.Subnet);
        Row("MAC", l.Mac);
        Row("ClientId", l.ClientId);
        Row("Expires", l.Expires.ToString("u", CultureInfo.InvariantCulture));
        Row("HostName", l.HostName);
        Row("Relay", l.RelayAddress);
        Row("Location", Location(l));
        Row("Reservation", l.Reservation);
        Row("DeclinedAt", l.DeclinedAt?.ToString("u", CultureInfo.InvariantCulture));
        Row("Node", l.NodeId is null ? null : $"{l.NodeId} {l.NodeName}");
        AnsiConsole.Write(grid);
        return ExitCodes.Ok;
    }

    private static int Print6(ParseResult p, Option<bool> json, Lease6View l)
    {
        if (p.GetValue(json))
        {
            return NodeCommands.Json(l);
        }

        var grid = new Grid().AddColumn().AddColumn();
        void Row(string name, string? value) => grid.AddRow(name, Markup.Escape(value ?? "-"));
        Row("Address", l.Address);
        Row("State", l.State.ToString());
        Row("DUID", l.Duid);
        Row("IAID", l.Iaid.ToString(CultureInfo.InvariantCulture));
        Row("MAC", l.Mac);
        Row("Expires", l.Expires.ToString("u", CultureInfo.InvariantCulture));
        Row("Relay", l.RelayLinkAddress);
        Row("Node", l.NodeId is null ? null : $"{l.NodeId} {l.NodeName}");
        AnsiConsole.Write(grid);
        return ExitCodes.Ok;
    }

    private static string? Location(LeaseView l) => l.CircuitId is null && l.RemoteId is null ? null
        : string.Join(' ', new[] { l.CircuitId is { } c ? "circuit-id " + c : null, l.RemoteId is { } r ? "remote-id " + r : null }.OfType<string>());
}
