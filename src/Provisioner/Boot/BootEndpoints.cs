using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// <c>GET /boot.ipxe</c>: the iPXE script a node runs after DHCP handed it to iPXE (docs/boot.md, steps 5
/// and 6). The GRUB path's per-node configuration comes from <see cref="BootScripts"/> too, over TFTP
/// (<see cref="GrubTftpFiles"/>).
/// </summary>
public static class BootEndpoints
{
    public static WebApplication MapBootEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/boot.ipxe", BootScript).ExcludeFromDescription().RequireRateLimiting(BootLanLimits.PerSourcePolicy);
        return app;
    }

    private static IResult BootScript(HttpRequest request, BootScripts scripts, IpxeTemplates templates, ServerUrl serverUrl)
    {
        var server = serverUrl.Value.ToString().TrimEnd('/');
        var q = request.Query;
        if (!q.ContainsKey("mac"))
        {
            // DHCP hands iPXE a bare URL; this chains back with iPXE's own variables filled in.
            return Script(templates.Render("chain", new Dictionary<string, string> { ["server"] = server }));
        }

        var facts = FactsOf(q);
        if (facts is null)
        {
            return BadMac(q);
        }

        var template = TemplateFor(facts);
        var result = scripts.Serve(facts, request.HttpContext.Connection.RemoteIpAddress, "iPXE script", template,
            (node, plan, image, token) =>
            {
                var script = templates.Render(template, BootValues(server, facts.Mac, node, plan, image, token, BootedOverIpv6(request.HttpContext.Connection.RemoteIpAddress)));
                return (script, BootTokens.LoadOptionsOf(script));
            },
            (node, plan) => templates.Render("noimage", BootValues(server, facts.Mac, node, plan, null, null, ipv6: false)));
        return result.Script is { } text ? Script(text) : Results.Problem(title: result.Title, detail: result.Problem, statusCode: result.Status);
    }

    /// <summary>The facts iPXE sent in the query (<c>mac</c> required); null when the MAC is missing or malformed.</summary>
    private static BootFacts? FactsOf(IQueryCollection q)
    {
        if (NodeService.NormaliseMac(q["mac"].ToString()) is not { } mac)
        {
            return null;
        }

        return new BootFacts(
            mac,
            Field(q["uuid"].ToString())?.ToLowerInvariant(),
            Field(q["serial"].ToString()),
            Field(q["manufacturer"].ToString()),
            Field(q["product"].ToString()),
            Field(q["arch"].ToString()),
            Field(q["platform"].ToString()));
    }

    private static IResult BadMac(IQueryCollection q) =>
        Results.Problem(title: "bad request", detail: $"mac '{Clip(q["mac"].ToString())}' is not a MAC address", statusCode: StatusCodes.Status400BadRequest);

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
        values["cmdline"] = BootScripts.CommandLine(node, plan, image, ipv6);
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
}
