using System.CommandLine;
using System.Globalization;
using Kldload.Provisioner.Api;
using Spectre.Console;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// <c>kldload tokens create|list|revoke</c>: named operator tokens through a running kldload (admin
/// API, admin role; issue 23).
/// </summary>
internal static class TokenCommands
{
    public static Command Create()
    {
        var tokens = new Command("tokens", "Create, list and revoke named operator tokens (viewer, operator, admin) through a running kldload (admin API; token from Auth:AdminTokenFile).");
        var server = new Option<string?>("--server") { Description = "kldload URL (default: the server on the data directory, else Kldload:ServerUrl, else http://127.0.0.1:8080).", Recursive = true };
        tokens.Options.Add(server);
        var name = new Argument<string>("name") { Description = "Token name: 1 to 63 of a-z, 0-9, '.', '_', '-'; it is the actor in every history entry made with the token." };

        var role = new Option<string>("--role") { Description = "viewer (read), operator (also node lifecycle), admin (also tokens, images, profiles, backups).", Required = true, HelpName = "ROLE" };
        role.AcceptOnlyFromAmong([.. Enum.GetValues<OperatorRole>().Select(OperatorRoles.Name)]);
        var create = new Command("create", "Create a token; it is printed once, alone on the last line (the server keeps only its hash).") { name, role };
        create.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var made = await c.PostAsync<TokenCreatedView>("api/v1/tokens", new TokenCreateRequest(p.GetValue(name), p.GetValue(role)), ct).ConfigureAwait(false);
            Console.WriteLine($"token {made.Name} created with the {made.Role} role; it is shown only now (use it as Authorization: Bearer, or put it in a file named by --Auth:AdminTokenFile):");
            Console.WriteLine(made.Token);
            return ExitCodes.Ok;
        }));

        var json = new Option<bool>("--json") { Description = "Print JSON for scripts instead of a table." };
        var list = new Command("list", "List every token: name, role, created, last used (to the minute), revoked.") { json };
        list.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var all = await c.GetAsync<List<TokenView>>("api/v1/tokens", ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return NodeCommands.Json(all);
            }

            var table = new Table().AddColumns("NAME", "ROLE", "CREATED", "LAST USED", "REVOKED");
            foreach (var t in all)
            {
                table.AddRow(Markup.Escape(t.Name), t.Role, When(t.Created), t.LastUsed is { } used ? When(used) : "never", t.Revoked is { } r ? When(r) : "-");
            }

            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));

        var revoke = new Command("revoke", "Revoke a token now: its next request is refused and requests it has open are cut. The name stays taken.") { name };
        revoke.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var revoked = await c.PostAsync<TokenView>($"api/v1/tokens/{Uri.EscapeDataString(p.GetValue(name)!)}/revoke", null, ct).ConfigureAwait(false);
            Console.WriteLine($"token {revoked.Name} revoked at {When(revoked.Revoked!.Value)}");
            return ExitCodes.Ok;
        }));

        tokens.Subcommands.Add(create);
        tokens.Subcommands.Add(list);
        tokens.Subcommands.Add(revoke);
        return tokens;
    }

    private static string When(DateTime t) => t.ToString("u", CultureInfo.InvariantCulture);
}
