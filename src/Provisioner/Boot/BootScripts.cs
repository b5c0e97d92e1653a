using System.Net;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Boot;

/// <summary>The outcome of one boot script request: the script, or why there is none (an HTTP status and a sentence).</summary>
public sealed record BootScriptResult(string? Script, int Status, string? Title, string? Problem);

/// <summary>
/// One boot script request of either loader (iPXE over HTTP, GRUB over TFTP): records the node and its
/// boot start, plans, issues a token and renders the script, all in one transaction; a node with no
/// image gets the loader's no-image script. The transport (HTTP endpoint, TFTP file) only reads the
/// request and sends what comes back.
/// </summary>
public sealed partial class BootScripts(
    NodeService nodes,
    BootPlanner planner,
    BootTokens tokens,
    BootSettings boot,
    TimeProvider time,
    BootStepRecorder steps,
    BootLanLimits limits,
    ILogger<BootScripts> log)
{
    /// <summary>
    /// Serves one request. <paramref name="render"/> returns the script and the kernel command line the
    /// loader hands the kernel (recorded on the token for the PCR 9 check); <paramref name="noImage"/> the
    /// script of a node with nothing to boot.
    /// </summary>
    public BootScriptResult Serve(
        BootFacts facts,
        IPAddress? client,
        string what,
        string template,
        Func<NodeRecord, BootPlan, BootImage, BootToken, (string Script, string? LoadOptions)> render,
        Func<NodeRecord, BootPlan, string> noImage)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(render);
        ArgumentNullException.ThrowIfNull(noImage);
        var mac = facts.Mac;
        if (!limits.TryMintToken(mac))
        {
            return new BootScriptResult(null, StatusCodes.Status429TooManyRequests, "too many requests",
                $"{mac} asked for more boot scripts than Limits:PerMacTokensPerMinute allows; retry in a minute");
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
                var node = nodes.RecordBoot(facts, NodeEventKind.Script, $"{what} requested ({facts.Platform ?? "unknown platform"}, {facts.Architecture ?? "unknown arch"}) from {client}");
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
                var (script, loadOptions) = render(node, plan, image, token);
                tokens.RecordLoadOptions(token, loadOptions);
                return (node, plan, token, (string?)script);
            });
        }
        catch (InventoryFullException e)
        {
            return new BootScriptResult(null, StatusCodes.Status503ServiceUnavailable, "inventory full", e.Message);
        }

        steps.ScriptServed(client, node.Id);
        if (plan.Image is not { } served || token is null || script is null)
        {
            Log.NoImage(log, node.Id, mac, plan.Explanation);
            return new BootScriptResult(noImage(node, plan), StatusCodes.Status200OK, null, null);
        }

        Log.Script(log, node.Id, mac, served.Name, served.Version, template);
        return new BootScriptResult(script, StatusCodes.Status200OK, null, null);
    }

    /// <summary>
    /// The image's command line, the profile's arguments and the node's one-boot flags; with
    /// <paramref name="ipv6"/> (the loader came over IPv6) the live image takes its address by DHCPv6.
    /// </summary>
    public static string CommandLine(NodeRecord node, BootPlan plan, BootImage image, bool ipv6 = false)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(image);
        return string.Join(' ', new[] { image.CommandLine, plan.KernelArgs, node.RepinPending ? "kldload.repin=1" : null, node.BurnInSeconds is { } burnIn ? $"kldload.burnin={burnIn}" : null, ipv6 ? "kldload.net=dhcp6" : null }.Where(s => !string.IsNullOrWhiteSpace(s)));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.BootScript, Level = LogLevel.Information, Message = "node {NodeId} ({Mac}) boots {Image} {Version} with {Template}")]
        public static partial void Script(ILogger logger, string nodeId, string mac, string image, string version, string template);

        [LoggerMessage(EventId = LogEvents.BootNoImage, Level = LogLevel.Warning, Message = "node {NodeId} ({Mac}) has no image: {Why}")]
        public static partial void NoImage(ILogger logger, string nodeId, string mac, string why);
    }
}
