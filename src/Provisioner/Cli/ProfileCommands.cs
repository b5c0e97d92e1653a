using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Inventory;
using Spectre.Console;
using Profile = Kldload.Provisioner.Inventory.Profile;

namespace Kldload.Provisioner.Cli;

/// <summary><c>kldload profiles ...</c> and <c>kldload events</c>: the rest of the admin API on the command line.</summary>
internal static class ProfileCommands
{
    /// <summary>The CLI's JSON settings on one line: <c>events --json</c> prints one event per line.</summary>
    private static readonly JsonSerializerOptions OneLine = new(AdminClient.Json) { WriteIndented = false };

    public static Command CreateProfiles()
    {
        var profiles = new Command("profiles", "List, show, set and delete boot profiles through a running kldload (admin API).");
        var server = new Option<string?>("--server") { Description = "kldload URL (default: the server on the data directory, else Kldload:ServerUrl, else http://127.0.0.1:8080).", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print JSON for scripts instead of a table.", Recursive = true };
        profiles.Options.Add(server);
        profiles.Options.Add(json);
        var name = new Argument<string>("name") { Description = "Profile name." };

        var list = new Command("list", "List every profile: priority, what it matches, what it boots.");
        list.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var all = await c.GetAsync<List<Profile>>("api/v1/profiles", ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return NodeCommands.Json(all);
            }

            var table = new Table().AddColumns("NAME", "PRIORITY", "MATCHES", "BOOTS", "ENROLLMENT");
            foreach (var profile in all.OrderByDescending(x => x.Priority).ThenBy(x => x.Name, StringComparer.Ordinal))
            {
                table.AddRow(Markup.Escape(profile.Name), profile.Priority.ToString(CultureInfo.InvariantCulture), Markup.Escape(Describe(profile.Match)),
                    Markup.Escape(profile.Image is { } i ? $"{i.Name} {i.Version}" : profile.Channel is { } ch ? $"channel {ch}" : "-"),
                    Markup.Escape(profile.EnrollmentPolicy ?? "-"));
            }

            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));

        var show = new Command("show", "Show one profile as JSON (the body `profiles set` takes).") { name };
        show.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
            NodeCommands.Json(await c.GetAsync<Profile>($"api/v1/profiles/{Uri.EscapeDataString(p.GetValue(name)!)}", ct).ConfigureAwait(false))));

        var file = new Option<string>("--file", "-f") { Description = "The profile as JSON (as `profiles show` prints it); - reads standard input.", Required = true, HelpName = "FILE" };
        var set = new Command("set", "Create or replace a profile from a JSON file.") { name, file };
        set.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var path = p.GetValue(file)!;
            Profile? body;
            try
            {
                var text = path == "-" ? await Console.In.ReadToEndAsync(ct).ConfigureAwait(false) : await File.ReadAllTextAsync(path, ct).ConfigureAwait(false);
                body = JsonSerializer.Deserialize<Profile>(text, AdminClient.Json);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
            {
                await p.InvocationConfiguration.Error.WriteLineAsync($"kldload: --file {path}: {e.Message}").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            if (body is null)
            {
                await p.InvocationConfiguration.Error.WriteLineAsync($"kldload: --file {path}: not a profile (null)").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            body.Name = p.GetValue(name)!;
            var saved = await c.SendAsync<Profile>(HttpMethod.Put, $"api/v1/profiles/{Uri.EscapeDataString(body.Name)}", body, ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return NodeCommands.Json(saved);
            }

            Console.WriteLine($"profile {saved.Name} saved: matches {Describe(saved.Match)}");
            return ExitCodes.Ok;
        }));

        var delete = new Command("delete", "Delete a profile (nodes it matched fall back to the next match or Boot:DefaultChannel).") { name };
        delete.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            await c.DeleteAsync($"api/v1/profiles/{Uri.EscapeDataString(p.GetValue(name)!)}", ct).ConfigureAwait(false);
            Console.WriteLine($"profile {p.GetValue(name)} deleted");
            return ExitCodes.Ok;
        }));

        profiles.Subcommands.Add(list);
        profiles.Subcommands.Add(show);
        profiles.Subcommands.Add(set);
        profiles.Subcommands.Add(delete);
        return profiles;
    }

    public static Command CreateEvents()
    {
        var server = new Option<string?>("--server") { Description = "kldload URL (default: the server on the data directory, else Kldload:ServerUrl, else http://127.0.0.1:8080)." };
        var json = new Option<bool>("--json") { Description = "One JSON object per line instead of a table." };
        var follow = new Option<bool>("--follow", "-f") { Description = "After the history, print every new event as it happens (until Ctrl-C)." };
        var after = new Option<long>("--after") { Description = "Only events with an id above this.", DefaultValueFactory = _ => 0 };
        var limit = new Option<int>("--limit") { Description = "At most this many past events (1 to 5000; default 200).", DefaultValueFactory = _ => 200 };
        var events = new Command("events", "Every node's history across the fleet, oldest first; --follow keeps printing new events.") { server, json, follow, after, limit };
        events.SetAction((p, ct) => NodeCommands.Run(p, server, ct, async c =>
        {
            var asJson = p.GetValue(json);
            var past = await c.GetAsync<List<NodeEventView>>(string.Create(CultureInfo.InvariantCulture, $"api/v1/events?after={p.GetValue(after)}&limit={Math.Clamp(p.GetValue(limit), 1, 5000)}"), ct).ConfigureAwait(false);
            var last = p.GetValue(after);
            foreach (var e in past)
            {
                Print(e, asJson);
                last = Math.Max(last, e.Id);
            }

            if (!p.GetValue(follow))
            {
                return ExitCodes.Ok;
            }

            try
            {
                await foreach (var line in c.StreamLinesAsync("api/v1/events/stream", ct).ConfigureAwait(false))
                {
                    if (!line.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    var e = JsonSerializer.Deserialize<NodeEventView>(line["data: ".Length..], AdminClient.Json);
                    if (e is not null && e.Id > last)
                    {
                        // The stream starts at subscription: an event already printed from the history is skipped.
                        Print(e, asJson);
                        last = e.Id;
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Ctrl-C: a normal end of --follow.
            }

            return ExitCodes.Ok;
        }));
        return events;
    }

    private static void Print(NodeEventView e, bool json)
    {
        Console.WriteLine(json
            ? JsonSerializer.Serialize(e, OneLine)
            : string.Create(CultureInfo.InvariantCulture, $"{e.Id,6} {e.At:u} {e.NodeId} {e.Kind,-12} {e.Actor}: {e.Message}"));
        Console.Out.Flush();
    }

    private static string Describe(ProfileMatch m)
    {
        var parts = new List<string>();
        void Add(string what, IEnumerable<string> values)
        {
            var list = values.ToList();
            if (list.Count > 0)
            {
                parts.Add($"{what} {string.Join(',', list)}");
            }
        }

        Add("mac", m.Macs);
        Add("uuid", m.Uuids);
        Add("serial", m.Serials);
        Add("circuit", m.CircuitIds);
        Add("remote", m.RemoteIds);
        Add("label", m.Labels.Select(kv => $"{kv.Key}={kv.Value}"));
        Add("facts", m.Facts);
        return parts.Count == 0 ? "-" : string.Join("; ", parts);
    }
}
