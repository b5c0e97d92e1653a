using System.CommandLine;
using System.Globalization;
using Kldload.Provisioner.Api;
using Spectre.Console;

namespace Kldload.Provisioner.Cli;

/// <summary><c>kldload nodes bmc set|show</c> and <c>kldload nodes power</c>: out-of-band power through the node's BMC.</summary>
internal static class PowerCommands
{
    public static IEnumerable<Command> Create(Option<string?> server, Option<bool> json)
    {
        var node = new Argument<string>("node") { Description = "Node id, name, MAC or UUID." };

        var ipmi = new Option<string?>("--ipmi") { Description = "IPMI over LAN (RMCP+): the BMC's HOST or HOST:PORT (port 623 by default; [v6]:PORT).", HelpName = "HOST[:PORT]" };
        var redfish = new Option<string?>("--redfish") { Description = "Redfish: the service's https:// URL.", HelpName = "URL" };
        var system = new Option<string?>("--system") { Description = "Redfish ComputerSystem id (/redfish/v1/Systems/{id}).", HelpName = "ID" };
        var fingerprint = new Option<string?>("--fingerprint") { Description = "Redfish: SHA-256 fingerprint of the BMC's (self-signed) certificate to accept.", HelpName = "SHA256" };
        var user = new Option<string>("--user") { Description = "BMC user name.", Required = true };
        var passwordFile = new Option<string>("--password-file") { Description = "File holding the BMC password (first line); never given on the command line.", Required = true, HelpName = "FILE" };
        var set = new Command("set", "Record the node's BMC: kldload logs in first, and keeps the previous record when the BMC refuses.") { node, ipmi, redfish, system, fingerprint, user, passwordFile };
        set.SetAction(async (p, ct) =>
        {
            var stderr = p.InvocationConfiguration.Error;
            var (request, error) = BuildRequest(p.GetValue(ipmi), p.GetValue(redfish), p.GetValue(system), p.GetValue(fingerprint), p.GetValue(user)!, p.GetValue(passwordFile)!);
            if (request is null)
            {
                await stderr.WriteLineAsync($"kldload: {error}").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            return await NodeCommands.Run(p, server, ct, async c =>
            {
                var view = await c.SendAsync<BmcView>(HttpMethod.Put, $"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}/bmc", request, ct).ConfigureAwait(false);
                if (view.PairingWarning is { } warning)
                {
                    await stderr.WriteLineAsync($"kldload: warning: {warning}").ConfigureAwait(false);
                }

                if (p.GetValue(json))
                {
                    return NodeCommands.Json(view);
                }

                Console.WriteLine($"{view.NodeId}: BMC {Describe(view)}; power {view.PowerState ?? "unknown"}");
                return ExitCodes.Ok;
            }).ConfigureAwait(false);
        });

        var show = new Command("show", "Show the node's BMC (never the password).") { node };
        show.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var view = await c.GetAsync<BmcView>($"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}/bmc", ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return NodeCommands.Json(view);
            }

            var grid = new Grid().AddColumn().AddColumn();
            grid.AddRow("BMC", Markup.Escape(Describe(view)));
            grid.AddRow("Certificate", Markup.Escape(view.Fingerprint ?? "-"));
            grid.AddRow("BMC UUID", Markup.Escape(view.BmcUuid ?? "-"));
            grid.AddRow("Pairing", Markup.Escape(view.PairingWarning ?? "the BMC's UUID is the node's"));
            grid.AddRow("Power", Markup.Escape(PowerText(view.PowerState, view.PowerStateAt)));
            grid.AddRow("Set at", view.UpdatedAt.ToString("u", CultureInfo.InvariantCulture));
            AnsiConsole.Write(grid);
            return ExitCodes.Ok;
        }));

        var bmc = new Command("bmc", "A node's baseboard management controller (IPMI or Redfish).");
        bmc.Subcommands.Add(set);
        bmc.Subcommands.Add(show);

        var action = new Argument<string>("action") { Description = "on, off, cycle (on when off), status, or pxe (next boot from the network, once)." };
        action.AcceptOnlyFromAmong("on", "off", "cycle", "status", "pxe");
        var power = new Command("power", "Power a node on, off or through a cycle by its BMC, or read its power state.") { node, action };
        power.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var view = await c.PostAsync<PowerView>($"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}/power", new PowerRequest(p.GetValue(action)), ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return NodeCommands.Json(view);
            }

            Console.WriteLine($"{view.NodeId} {view.Name}: {(view.Action == "status" ? string.Empty : $"{view.Action} done; ")}power {PowerText(view.PowerState, view.PowerStateAt)}");
            return ExitCodes.Ok;
        }));

        return [bmc, power];
    }

    /// <summary>The API request from the command line, or why there is none.</summary>
    internal static (BmcSetRequest? Request, string? Error) BuildRequest(string? ipmi, string? redfish, string? system, string? fingerprint, string user, string passwordFile)
    {
        if ((ipmi is null) == (redfish is null))
        {
            return (null, "give exactly one of --ipmi HOST[:PORT] and --redfish URL");
        }

        string password;
        try
        {
            password = File.ReadLines(passwordFile).FirstOrDefault() ?? string.Empty;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"--password-file {passwordFile}: {e.Message}");
        }

        if (password.Length == 0)
        {
            return (null, $"--password-file {passwordFile}: the first line is empty");
        }

        if (redfish is not null)
        {
            return (new BmcSetRequest("redfish", redfish, null, user, password, system, fingerprint), null);
        }

        if (!TrySplitHostPort(ipmi!, out var host, out var port))
        {
            return (null, $"--ipmi '{ipmi}': use HOST, HOST:PORT or [IPv6]:PORT");
        }

        return (new BmcSetRequest("ipmi", host, port, user, password, null, null), null);
    }

    internal static bool TrySplitHostPort(string text, out string host, out int? port)
    {
        host = text;
        port = null;
        string? portText = null;
        if (text.StartsWith('['))
        {
            var end = text.IndexOf(']', StringComparison.Ordinal);
            if (end < 0)
            {
                return false;
            }

            host = text[1..end];
            if (end + 1 < text.Length)
            {
                if (text[end + 1] != ':')
                {
                    return false;
                }

                portText = text[(end + 2)..];
            }
        }
        else if (text.Count(c => c == ':') == 1)
        {
            host = text[..text.IndexOf(':', StringComparison.Ordinal)];
            portText = text[(text.IndexOf(':', StringComparison.Ordinal) + 1)..];
        }

        if (portText is not null)
        {
            if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535)
            {
                return false;
            }

            port = p;
        }

        return host.Length > 0;
    }

    private static string Describe(BmcView v) => v.Protocol == "ipmi"
        ? $"ipmi {v.Address}:{v.Port} user {v.User}"
        : $"redfish {v.Address} system {v.SystemId} user {v.User}";

    internal static string PowerText(string? state, DateTime? at) =>
        state is null ? "unknown (never read)" : $"{state} (read {at?.ToString("u", CultureInfo.InvariantCulture)})";
}
