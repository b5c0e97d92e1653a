using Kldload.Provisioner.Hosting;
using Kldload.Provisioner.Hosting.Settings;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Boot;

/// <summary><c>GET /boot.ipxe</c>: the iPXE script a node runs after DHCP handed it to iPXE (docs/boot.md, steps 5 and 6).</summary>
public static partial class BootEndpoints
{
    public static WebApplication MapBootEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/boot.ipxe", BootScript).ExcludeFromDescription().RequireRateLimiting(BootLanLimits.PerSourcePolicy);
        return app;
    }

    private static IResult BootScript(
        HttpRequest request,
        NodeService nodes,
        BootPlanner planner,
        BootTokenStore tokens,
        IpxeTemplates templates,
        ServerUrl serverUrl,
        BootSettings boot,
        TimeProvider time,
        BootStepRecorder steps,
        BootLanLimits limits,
        ILoggerFactory loggers)
    {
        var server = serverUrl.Value.ToString().TrimEnd('/');
        var q = request.Query;
        if (!q.ContainsKey("mac"))
        {
            // DHCP hands iPXE a bare URL; this chains back with iPXE's own variables filled in.
            return Script(templates.Render("chain", new Dictionary<string, string> { ["server"] = server }));
        }

        var mac = NodeService.NormaliseMac(q["mac"].ToString());
        if (mac is null)
        {
            return Results.Problem(title: "bad request", detail: $"mac '{Clip(q["mac"].ToString())}' is not a MAC address", statusCode: StatusCodes.Status400BadRequest);
        }

        var facts = new BootFacts(
            mac,
            Field(q["uuid"].ToString())?.ToLowerInvariant(),
            Field(q["serial"].ToString()),
            Field(q["manufacturer"].ToString()),
            Field(q["product"].ToString()),
            Field(q["arch"].ToString()),
            Field(q["platform"].ToString()));
        if (!limits.TryMintToken(mac))
        {
            return Results.Problem(title: "too many requests", detail: $"{mac} asked for more boot scripts than Limits:PerMacTokensPerMinute allows; retry in a minute",
                statusCode: StatusCodes.Status429TooManyRequests);
        }

        // Every write of one script request (node, history, boot start, token and the load options of
        // the script rendered for it) is one transaction: one commit instead of nine.
        NodeRecord node;
        BootPlan plan;
        BootToken? token;
        string? script;
        try
        {
            (node, plan, token, script) = nodes.Atomically(() =>
            {
                var node = nodes.RecordBoot(facts, NodeEventKind.Script, $"iPXE script requested ({facts.Platform ?? "unknown platform"}, {facts.Architecture ?? "unknown arch"}) from {request.HttpContext.Connection.RemoteIpAddress}");
                var now = time.GetUtcNow().UtcDateTime;
                if (node.BootStartedAt is null || now - node.BootStartedAt > TimeSpan.FromMinutes(10) || node.LastBootAt >= node.BootStartedAt)
                {
                    nodes.MarkBootStarted(node, now);
                }

                var plan = planner.Plan(node);
                if (plan.Image is not { } image)
                {
                    nodes.Record(node, NodeEventKind.Script, $"no image: {plan.Explanation}");
                    return (node, plan, (BootToken?)null, (string?)null);
                }

                var token = tokens.Issue(node.Id, mac, boot.TokenLifetime, image);
                node = nodes.Update(node.Id, NodeEventKind.Script, $"script: {image.Name} {image.Version} ({plan.Explanation})", "node", n =>
                {
                    n.Profile = plan.Profile?.Name;
                    n.LastBootedImage = new ImageRef { Name = image.Name, Version = image.Version };
                    n.LastBootedKernelDigest = image.KernelDigest;
                    n.BurnInSeconds = plan.Profile?.Commission?.BurnInSeconds;
                });
                var script = templates.Render(TemplateFor(facts), BootValues(server, mac, node, plan, image, token, BootedOverIpv6(request.HttpContext.Connection.RemoteIpAddress)));
                tokens.RecordLoadOptions(token, BootTokenStore.LoadOptionsOf(script));
                return (node, plan, token, (string?)script);
            });
        }
        catch (InventoryFullException e)
        {
            return Results.Problem(title: "inventory full", detail: e.Message, statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        steps.ScriptServed(request.HttpContext.Connection.RemoteIpAddress, node.Id);
        var log = loggers.CreateLogger("Kldload.Boot");
        if (plan.Image is not { } served || token is null || script is null)
        {
            Log.NoImage(log, node.Id, mac, plan.Explanation);
            return Script(templates.Render("noimage", BootValues(server, mac, node, plan, null, null, ipv6: false)));
        }

        Log.Script(log, node.Id, mac, served.Name, served.Version, TemplateFor(facts));
        return Script(script);
    }

    private static string TemplateFor(BootFacts facts) =>
        string.Equals(facts.Platform, "efi", StringComparison.OrdinalIgnoreCase) ? "boot.efi" : "boot.pcbios";

    /// <summary>
    /// Whether iPXE asked over IPv6 (an IPv4-mapped address is an IPv4 client on a dual-stack socket):
    /// the live image must then take its own address by DHCPv6 (<c>kldload.net=dhcp6</c>).
    /// </summary>
    internal static bool BootedOverIpv6(System.Net.IPAddress? remote) =>
        remote is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6, IsIPv4MappedToIPv6: false } && !System.Net.IPAddress.IsLoopback(remote);

    /// <summary>The template values of a boot script; with no image, those of the no-image script.</summary>
    private static Dictionary<string, string> BootValues(string server, string mac, NodeRecord node, BootPlan plan, BootImage? image, BootToken? token, bool ipv6)
    {
        var values = new Dictionary<string, string>
        {
            ["server"] = server,
            ["mac"] = mac,
            ["node_id"] = node.Id,
            ["node_name"] = node.Name,
            ["explanation"] = plan.Explanation,
        };
        if (image is null || token is null)
        {
            return values;
        }

        values["image_name"] = image.Name;
        values["image_version"] = image.Version;
        values["kernel_digest"] = image.KernelDigest;
        values["initrd_digest"] = image.InitrdDigest;
        values["cmdline"] = string.Join(' ', new[] { image.CommandLine, plan.KernelArgs, node.RepinPending ? "kldload.repin=1" : null, node.BurnInSeconds is { } burnIn ? $"kldload.burnin={burnIn}" : null, ipv6 ? "kldload.net=dhcp6" : null }.Where(s => !string.IsNullOrWhiteSpace(s)));
        values["token"] = token.Token;
        return values;
    }

    private static IResult Script(string text) => Results.Text(text, "text/plain; charset=utf-8");

    /// <summary>iPXE sends an empty string for unset variables; keep values short and printable.</summary>
    private static string? Field(string value)
    {
        value = value.Trim();
        return value.Length == 0 ? null : Clip(new string(value.Where(c => !char.IsControl(c)).ToArray()));
    }

    private static string Clip(string value) => value.Length <= 128 ? value : value[..128];

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.BootScript, Level = LogLevel.Information, Message = "node {NodeId} ({Mac}) boots {Image} {Version} with {Template}")]
        public static partial void Script(ILogger logger, string nodeId, string mac, string image, string version, string template);

        [LoggerMessage(EventId = LogEvents.BootNoImage, Level = LogLevel.Warning, Message = "node {NodeId} ({Mac}) has no image: {Why}")]
        public static partial void NoImage(ILogger logger, string nodeId, string mac, string why);
    }
}
