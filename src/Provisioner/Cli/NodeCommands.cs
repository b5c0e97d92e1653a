using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Kldload.Provisioner.Api;
using Spectre.Console;

namespace Kldload.Provisioner.Cli;

/// <summary><c>kldload nodes ...</c>: the inventory, over the admin API of a running kldload.</summary>
internal static class NodeCommands
{
    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    /// <summary>The hardware columns of <c>nodes list --columns</c>, from the node view's facts summary.</summary>
    private static readonly Dictionary<string, Func<NodeView, string>> HardwareColumns = new(StringComparer.Ordinal)
    {
        ["cpu"] = n => n.Cpu ?? "-",
        ["memory"] = n => n.MemoryGiB is { } gib ? string.Create(CultureInfo.InvariantCulture, $"{gib} GiB") : "-",
        ["disks"] = n => n.Disks is { Count: > 0 } d ? string.Join("; ", d) : "-",
        ["gpus"] = n => n.Gpus is { Count: > 0 } g ? string.Join("; ", g) : "-",
    };

    public static Command Create()
    {
        var nodes = new Command("nodes", "List and steer nodes through a running kldload (admin API; token from Auth:AdminTokenFile).");
        var server = new Option<string?>("--server") { Description = "kldload URL (default Kldload:ServerUrl, else http://127.0.0.1:8080).", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print JSON for scripts instead of a table.", Recursive = true };
        nodes.Options.Add(server);
        nodes.Options.Add(json);

        var node = new Argument<string>("node") { Description = "Node id, name, MAC or UUID." };

        var columns = new Option<string?>("--columns") { Description = "Extra hardware columns from the nodes' facts, comma-separated: " + string.Join(',', HardwareColumns.Keys) + "." };
        var list = new Command("list", "List every node with its state, image, mesh address and last boot.") { columns };
        list.SetAction((p, ct) => Run(p, server, ct, async c =>
        {
            var extra = (p.GetValue(columns) ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (extra.FirstOrDefault(x => !HardwareColumns.ContainsKey(x)) is { } unknown)
            {
                await Console.Error.WriteLineAsync($"kldload: --columns: unknown column '{unknown}'; known: {string.Join(", ", HardwareColumns.Keys)}").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            var all = await c.GetAsync<List<NodeView>>("api/v1/nodes", ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return Json(all);
            }

            var now = DateTimeOffset.UtcNow;
            var table = new Table().AddColumns(["ID", "NAME", "STATE", "MAC", "LOCATION", "IMAGE", "MESH ADDRESS", "LAST BOOT", "TO MESH", "POWER", "HANDSHAKE", .. extra.Select(x => x.ToUpperInvariant())]);
            foreach (var n in all)
            {
                table.AddRow([n.Id, Markup.Escape(n.Name), n.State.ToString(), string.Join(' ', n.Macs), Markup.Escape(n.Location ?? "-"), Markup.Escape(n.LastBootedImage ?? "-"),
                    n.MeshAddress ?? "-", n.LastBootAt?.ToString("u", CultureInfo.InvariantCulture) ?? "-",
                    n.LastBootToMeshSeconds is { } s ? $"{s:0.0} s" : "-",
                    n.PowerState is { } power ? $"{power} {n.PowerStateAt?.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}" : "-",
                    Ago(n.LastHandshake, now),
                    .. extra.Select(x => Markup.Escape(HardwareColumns[x](n)))]);
            }

            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));

        var show = new Command("show", "Show one node.") { node };
        show.SetAction((p, ct) => Run(p, server, ct, async c =>
        {
            var n = await c.GetAsync<NodeView>($"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}", ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return Json(n);
            }

            var grid = new Grid().AddColumn().AddColumn();
            foreach (var prop in typeof(NodeView).GetProperties())
            {
                var value = prop.GetValue(n) switch
                {
                    null => "-",
                    IReadOnlyList<string> signers when prop.Name == nameof(NodeView.SecureBootSigners) => string.Join("; ", signers),
                    JsonElement facts => facts.ValueKind == JsonValueKind.Null ? "-" : JsonSerializer.Serialize(facts, IndentedJson),
                    IReadOnlyList<string> l => string.Join(' ', l),
                    IReadOnlyDictionary<string, string> d => string.Join(", ", d.Select(kv => $"{kv.Key}={kv.Value}")),
                    Mesh.ControlChannelStatus channel => Describe(channel),
                    DateTimeOffset handshake when prop.Name == nameof(NodeView.LastHandshake) =>
                        $"{handshake.ToString("u", CultureInfo.InvariantCulture)} ({Ago(handshake, DateTimeOffset.UtcNow)})",
                    var v => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "-",
                };
                grid.AddRow(prop.Name, Markup.Escape(value));
            }

            AnsiConsole.Write(grid);
            return ExitCodes.Ok;
        }));

        var events = new Command("events", "Show a node's history, oldest first.") { node };
        events.SetAction((p, ct) => Run(p, server, ct, async c =>
        {
            var list = await c.GetAsync<List<NodeEventView>>($"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}/events", ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return Json(list);
            }

            var table = new Table().AddColumns("#", "AT", "KIND", "WHO", "WHAT");
            foreach (var e in list)
            {
                table.AddRow(e.Id.ToString(CultureInfo.InvariantCulture), e.At.ToString("u", CultureInfo.InvariantCulture), e.Kind.ToString(), Markup.Escape(e.Actor), Markup.Escape(e.Message));
            }

            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        }));

        var approve = new Command("approve", "Approve a node's new EK (Enrolling or Quarantined).") { node };
        approve.SetAction((p, ct) => Action(p, server, json, ct, $"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}/approve", new ActionNote(null)));

        var channel = new Option<string?>("--channel") { Description = "Image channel the node boots from now on." };
        var image = new Option<string?>("--image") { Description = "Pin an image instead: NAME VERSION as NAME:VERSION." };
        var reimage = new Command("reimage", "Assign an image; the node's next boot takes it.") { node, channel, image };
        reimage.SetAction((p, ct) =>
        {
            var pinned = p.GetValue(image)?.Split(':', 2);
            var body = new ReimageRequest(p.GetValue(channel), pinned?[0], pinned?.Length == 2 ? pinned[1] : null);
            return Action(p, server, json, ct, $"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}/reimage", body);
        });

        var decommission = new Command("decommission", "Revoke the node's EK and key and remove it from the mesh.") { node };
        decommission.SetAction((p, ct) => Action(p, server, json, ct, $"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}/decommission", new ActionNote(null)));

        var with = new Option<string>("--with") { Description = "The new hardware's node id, name or MAC (boot it once first).", Required = true };
        var replace = new Command("replace", "Move a dead node's name, profile, labels and mesh address to new hardware; the old EK is revoked.") { node, with };
        replace.SetAction((p, ct) => Action(p, server, json, ct, $"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}/replace", new ReplaceRequest(p.GetValue(with)!)));

        var rotate = new Command("rotate-key", "Rotate the node's WireGuard key: the hub drops the current key now; the next boot derives the next key epoch.") { node };
        rotate.SetAction((p, ct) => Action(p, server, json, ct, $"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}/rotate-key", new ActionNote(null)));

        var repin = new Command("repin", "Let the node pin this provisioner's mesh CA anew at its next boot (kldload.repin=1 until it attests).") { node };
        repin.SetAction((p, ct) => Action(p, server, json, ct, $"api/v1/nodes/{Uri.EscapeDataString(p.GetValue(node)!)}/repin", new ActionNote(null)));

        foreach (var c in new[] { list, show, events, approve, reimage, decommission, replace, rotate, repin }.Concat(PowerCommands.Create(server, json)).Append(RebuildCommand.Create(server, json)))
        {
            nodes.Subcommands.Add(c);
        }

        return nodes;
    }

    private static Task<int> Action(ParseResult p, Option<string?> server, Option<bool> json, CancellationToken ct, string path, object body) =>
        Run(p, server, ct, async c =>
        {
            var n = await c.PostAsync<NodeView>(path, body, ct).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                return Json(n);
            }

            Console.WriteLine($"{n.Id} {n.Name}: {n.State}{(n.StateReason is null ? string.Empty : $" ({n.StateReason})")}{(n.Location is null ? string.Empty : $" at {n.Location}")}");
            return ExitCodes.Ok;
        });

    /// <summary>The control channel in a few lines: connected, last seen, epochs, certificate, each peer's handshake.</summary>
    internal static string Describe(Mesh.ControlChannelStatus c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"{(c.Connected ? "connected" : "not connected")}, last seen {c.LastSeen?.ToString("u", CultureInfo.InvariantCulture) ?? "-"}, agent {c.AgentState ?? "-"}"),
            string.Create(CultureInfo.InvariantCulture, $"bundle epoch {c.AppliedEpoch?.ToString(CultureInfo.InvariantCulture) ?? "-"} applied (mesh epoch {c.CurrentEpoch}{(c.AppliedEpoch == c.CurrentEpoch ? ", up to date" : string.Empty)})"),
            $"certificate until {c.CertificateNotAfter?.ToString("u", CultureInfo.InvariantCulture) ?? "-"}",
        };
        lines.AddRange(c.Peers.Select(p => string.Create(CultureInfo.InvariantCulture,
            $"peer {p.Name ?? "unknown"} {p.PublicKey}: handshake {p.LastHandshake?.ToString("u", CultureInfo.InvariantCulture) ?? "never"}, rx {p.RxBytes} tx {p.TxBytes}")));
        return string.Join('\n', lines);
    }

    /// <summary>How long ago <paramref name="at"/> was, coarsely ("12s ago", "5m ago", "3h ago", "2d ago"); "-" for none.</summary>
    /// <remarks>A time a little ahead of <paramref name="now"/> (the node's clock runs fast) reads "0s ago".</remarks>
    internal static string Ago(DateTimeOffset? at, DateTimeOffset now)
    {
        if (at is not { } when)
        {
            return "-";
        }

        var age = now - when;
        if (age < TimeSpan.Zero)
        {
            age = TimeSpan.Zero;
        }

        return age.TotalSeconds < 60 ? string.Create(CultureInfo.InvariantCulture, $"{(int)age.TotalSeconds}s ago")
            : age.TotalMinutes < 60 ? string.Create(CultureInfo.InvariantCulture, $"{(int)age.TotalMinutes}m ago")
            : age.TotalHours < 48 ? string.Create(CultureInfo.InvariantCulture, $"{(int)age.TotalHours}h ago")
            : string.Create(CultureInfo.InvariantCulture, $"{(int)age.TotalDays}d ago");
    }

    internal static int Json<T>(T value)
    {
        Console.WriteLine(JsonSerializer.Serialize(value, AdminClient.Json));
        return ExitCodes.Ok;
    }

    internal static async Task<int> Run(ParseResult p, Option<string?> server, CancellationToken ct, Func<AdminClient, Task<int>> action)
    {
        var stderr = p.InvocationConfiguration.Error;
        if (Console.IsOutputRedirected)
        {
            // Piped output: no terminal width to fit, so never wrap a cell across lines.
            AnsiConsole.Profile.Width = 400;
        }

        var config = KldloadCli.LoadOrReport(SettingOverrides.From(p.UnmatchedTokens), stderr, requireWritableDataDir: false);
        if (config is null)
        {
            return ExitCodes.BadSettings;
        }

        var token = AdminToken.TryRead(config.Auth.AdminTokenFile);
        if (token is null)
        {
            await stderr.WriteLineAsync($"kldload: cannot read the admin token {config.Auth.AdminTokenFile} (set Auth:AdminTokenFile or Kldload:DataDir)").ConfigureAwait(false);
            return ExitCodes.Failed;
        }

        using var client = new AdminClient(AdminClient.ResolveServer(p.GetValue(server), config), token, KnownServers.For(config, stderr));
        try
        {
            return await action(client).ConfigureAwait(false);
        }
        catch (AdminApiException e)
        {
            await stderr.WriteLineAsync($"kldload: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
    }
}
