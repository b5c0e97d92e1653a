using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Kldload.Provisioner.Api;
using Spectre.Console;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// <c>kldload instances list [--json]</c> and <c>kldload instances forget ID [--force]</c>: the
/// kldload instances sharing the database, through a running kldload (issue 17).
/// </summary>
internal static class InstanceCommands
{
    public static Command Create()
    {
        var instances = new Command("instances", "List the kldload instances sharing this PostgreSQL database (mesh hub, image blobs, DHCP roles), or forget one that is gone.");
        var server = new Option<string?>("--server") { Description = "kldload URL (default: the server on the data directory, else Kldload:ServerUrl, else http://127.0.0.1:8080).", Recursive = true };
        instances.Options.Add(server);

        var json = new Option<bool>("--json") { Description = "Print JSON for scripts instead of a table." };
        var list = new Command("list", "List every instance with rows in the database, this one first: last seen, hub endpoint, blobs held, DHCP roles.") { json };
        list.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var all = await c.GetAsync<List<InstanceView>>("api/v1/instances", ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return NodeCommands.Json(all);
            }

            var table = new Table().AddColumns("INSTANCE", "LAST SEEN", "MESH HUB", "BLOBS", "DHCP");
            foreach (var i in all)
            {
                table.AddRow(
                    Markup.Escape(i.Id + (i.Self ? " (this)" : "")),
                    i.LastSeen is { } seen ? seen.ToString("u", CultureInfo.InvariantCulture) : "-",
                    Markup.Escape(i.HubEndpoint ?? "-"),
                    i.Blobs == 0 ? "-" : string.Create(CultureInfo.InvariantCulture, $"{i.Blobs} at {i.BlobUrl}"),
                    i.Dhcp.Count == 0 ? "-" : Markup.Escape(string.Join(", ", i.Dhcp.Select(d => $"{d.Segment} {d.Role}"))));
            }

            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));

        var id = new Argument<string>("id") { Description = "The instance id, as `kldload instances` lists it." };
        var force = new Option<bool>("--force") { Description = "Forget it even though it was seen in the last 5 minutes." };
        var forget = new Command("forget", "Remove the rows a stopped instance left (its mesh hub, which every other hub then drops as a peer; its blob-holder rows; its DHCP heartbeats).") { id, force };
        forget.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var path = $"api/v1/instances/{Uri.EscapeDataString(p.GetValue(id)!)}" + (p.GetValue(force) ? "?force=true" : "");
            var answer = await c.SendAsync<JsonElement>(HttpMethod.Delete, path, null, ct).ConfigureAwait(false);
            Console.WriteLine($"instance {p.GetValue(id)} forgotten: {answer.GetProperty("removedRows").GetInt32()} rows removed");
            return ExitCodes.Ok;
        }));

        instances.Subcommands.Add(list);
        instances.Subcommands.Add(forget);
        return instances;
    }
}
