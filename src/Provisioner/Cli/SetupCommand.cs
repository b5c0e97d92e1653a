using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kldload.Dhcp.Protocol;
using Kldload.Provisioner.Settings;
using Spectre.Console;

namespace Kldload.Provisioner.Cli;

/// <summary>An interface <c>kldload setup</c> can offer as the boot network.</summary>
internal sealed record BootInterfaceCandidate(string Name, IPAddress Address, int PrefixLength, bool CarriesDefaultRoute);

/// <summary>What <c>kldload setup</c> proposes for one interface.</summary>
internal sealed record SetupProposal(BootInterfaceCandidate Interface, DhcpMode Mode, IPNetwork Network, IPAddress PoolStart, IPAddress PoolEnd, Uri ServerUrl, IReadOnlyList<ForeignDhcpServer> OtherServers);

/// <summary>
/// <c>kldload setup</c>: finds the boot network and writes the settings file. It lists the interfaces
/// with their IPv4 addresses, proposes one (the only one, else the first that does not carry the
/// default route: a dedicated boot NIC), its subnet, a pool and the server URL, asks the segment
/// who else answers DHCP and proposes Proxy when someone does (Full otherwise), then runs the
/// doctor's loader and port checks. On a terminal it asks before each choice; with flags it does not.
/// </summary>
internal static class SetupCommand
{
    public static Command Create()
    {
        var iface = new Option<string?>("--interface") { Description = "The boot network's interface (default: proposed).", HelpName = "IFACE" };
        var mode = new Option<string?>("--mode") { Description = "Full or Proxy (default: Proxy when another DHCP server answers on the interface, else Full).", HelpName = "MODE" };
        var output = new Option<string?>("--output", "-o") { Description = "The settings file to write (default: the one kldload reads).", HelpName = "FILE" };
        var yes = new Option<bool>("--yes", "-y") { Description = "Take every proposal without asking (also when not on a terminal)." };
        var wait = new Option<TimeSpan>("--dhcp-wait")
        {
            Description = "How long to listen for other DHCP servers' offers (default 00:00:03).",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(3),
            HelpName = "DURATION",
        };
        var setup = new Command("setup", "Find the boot network, propose DHCP mode, pool and server URL (Proxy when another DHCP server answers), check loaders and ports, and write the settings file.");
        setup.Options.Add(iface);
        setup.Options.Add(mode);
        setup.Options.Add(output);
        setup.Options.Add(yes);
        setup.Options.Add(wait);
        setup.SetAction(async (parse, ct) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var interactive = !parse.GetValue(yes) && !Console.IsInputRedirected && !Console.IsOutputRedirected;
            var candidates = Candidates();
            if (candidates.Count == 0)
            {
                await stderr.WriteLineAsync("kldload setup: no interface is up with an IPv4 address; give the boot network's interface one first (ip addr add ADDRESS/PREFIX dev IFACE)").ConfigureAwait(false);
                return ExitCodes.Failed;
            }

            await stdout.WriteLineAsync("Interfaces with an IPv4 address:").ConfigureAwait(false);
            foreach (var c in candidates)
            {
                await stdout.WriteLineAsync($"  {c.Name,-16} {c.Address}/{c.PrefixLength}{(c.CarriesDefaultRoute ? "  (default route)" : string.Empty)}").ConfigureAwait(false);
            }

            var chosen = parse.GetValue(iface) is { } name
                ? candidates.FirstOrDefault(c => c.Name == name)
                : Propose(candidates);
            if (chosen is null)
            {
                await stderr.WriteLineAsync($"kldload setup: --interface {parse.GetValue(iface)} is not up with an IPv4 address; choose one of {string.Join(", ", candidates.Select(c => c.Name))}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }

            if (interactive && parse.GetValue(iface) is null && candidates.Count > 1)
            {
                chosen = AnsiConsole.Prompt(new SelectionPrompt<BootInterfaceCandidate>()
                    .Title("Which interface is the boot network?")
                    .UseConverter(c => $"{c.Name} {c.Address}/{c.PrefixLength}{(c.CarriesDefaultRoute ? " (default route)" : string.Empty)}")
                    .AddChoices(candidates.OrderBy(c => c == chosen ? 0 : 1)));
            }

            await stdout.WriteLineAsync($"Asking {chosen.Name} who answers DHCP ({parse.GetValue(wait).TotalSeconds:0.#} s)...").ConfigureAwait(false);
            IReadOnlyList<ForeignDhcpServer> others;
            try
            {
                others = await ForeignDhcpProbe.DiscoverAsync(chosen.Name, parse.GetValue(wait), ct).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                await stderr.WriteLineAsync($"kldload setup: cannot probe {chosen.Name} for DHCP servers ({e.Message}); run as root, or choose --mode").ConfigureAwait(false);
                others = [];
                if (parse.GetValue(mode) is null)
                {
                    return ExitCodes.Failed;
                }
            }

            var proposal = BuildProposal(chosen, others);
            if (parse.GetValue(mode) is { } forced)
            {
                if (!Enum.TryParse<DhcpMode>(forced, ignoreCase: true, out var m) || m == DhcpMode.Off)
                {
                    await stderr.WriteLineAsync($"kldload setup: --mode {forced}: allowed Full or Proxy").ConfigureAwait(false);
                    return ExitCodes.BadSettings;
                }

                proposal = proposal with { Mode = m };
            }

            await stdout.WriteLineAsync(others.Count == 0
                ? $"No other DHCP server answered on {chosen.Name}: proposing Full (kldload hands out {proposal.PoolStart} - {proposal.PoolEnd})."
                : $"Another DHCP server answers on {chosen.Name}: {string.Join(", ", others.Select(o => o.ServerId))}: proposing Proxy (it keeps the addresses; kldload adds the boot options).").ConfigureAwait(false);
            if (interactive && parse.GetValue(mode) is null)
            {
                proposal = proposal with
                {
                    Mode = AnsiConsole.Prompt(new SelectionPrompt<DhcpMode>().Title("DHCP mode?").AddChoices(proposal.Mode == DhcpMode.Full ? [DhcpMode.Full, DhcpMode.Proxy] : [DhcpMode.Proxy, DhcpMode.Full])),
                };
            }

            var file = Path.GetFullPath(parse.GetValue(output) ?? KldloadConfiguration.DefaultSettingsFile());
            await stdout.WriteLineAsync($"Mode {proposal.Mode} on {chosen.Name}, server {proposal.ServerUrl}{(proposal.Mode == DhcpMode.Full ? $", subnet {proposal.Network}, pool {proposal.PoolStart} - {proposal.PoolEnd}" : string.Empty)}.").ConfigureAwait(false);
            if (interactive && !AnsiConsole.Confirm($"Write {file}?"))
            {
                await stdout.WriteLineAsync("Nothing written.").ConfigureAwait(false);
                return ExitCodes.Failed;
            }

            await WriteAsync(file, proposal, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"Wrote {file}{(File.Exists(file + ".bak") ? $" (the previous file is {file}.bak)" : string.Empty)}.").ConfigureAwait(false);

            // The doctor's checks on what was written: loaders and ports.
            var config = KldloadConfiguration.Load(KldloadConfiguration.BuildRoot([], file), out var errors);
            if (errors.Count > 0)
            {
                foreach (var e in errors)
                {
                    await stderr.WriteLineAsync($"kldload setup: the written settings are refused: {e}").ConfigureAwait(false);
                }

                return ExitCodes.Failed;
            }

            var problems = (await DoctorCommand.CheckAsync(config, TimeSpan.Zero, ct, probeDhcp: false).ConfigureAwait(false)).Where(f => f.Status == DoctorStatus.Problem).ToList();
            foreach (var p in problems)
            {
                await stdout.WriteLineAsync($"PROBLEM {p.Check}: {p.Detail}\n        fix: {p.Fix}").ConfigureAwait(false);
            }

            await stdout.WriteLineAsync(problems.Count == 0 ? "Next: systemctl start kldload (or kldload serve)." : "Fix the problems above, then start kldload.").ConfigureAwait(false);
            return problems.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return setup;
    }

    /// <summary>Every interface that is up, not loopback, with an IPv4 address.</summary>
    internal static List<BootInterfaceCandidate> Candidates()
    {
        var defaultRoutes = DefaultRouteInterfaces();
        return [.. NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.NetworkInterfaceType != NetworkInterfaceType.Loopback && n.OperationalStatus is OperationalStatus.Up or OperationalStatus.Unknown)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses
                .Where(u => u.Address.AddressFamily == AddressFamily.InterNetwork)
                .Take(1)
                .Select(u => new BootInterfaceCandidate(n.Name, u.Address, u.PrefixLength, defaultRoutes.Contains(n.Name))))];
    }

    /// <summary>The only candidate, else the first without the default route, else the first.</summary>
    internal static BootInterfaceCandidate Propose(IReadOnlyList<BootInterfaceCandidate> candidates) =>
        candidates.Count == 1 ? candidates[0] : candidates.FirstOrDefault(c => !c.CarriesDefaultRoute) ?? candidates[0];

    /// <summary>
    /// The interface's subnet; Full hands out the upper half of its host addresses (never the server's
    /// own address, never the network or broadcast address); Proxy when another server answered.
    /// </summary>
    internal static SetupProposal BuildProposal(BootInterfaceCandidate candidate, IReadOnlyList<ForeignDhcpServer> others)
    {
        var mask = Ipv4Address.MaskFromPrefix(candidate.PrefixLength).Value;
        var first = Ipv4Address.FromIPAddress(candidate.Address).Value & mask;
        var network = new IPNetwork(new Ipv4Address(first).ToIPAddress(), candidate.PrefixLength);
        var size = candidate.PrefixLength >= 31 ? 1u : 1u << (32 - candidate.PrefixLength);
        var last = first + size - 1;
        var start = first + (size / 2);
        var end = last - 1;
        var own = Ipv4Address.FromIPAddress(candidate.Address).Value;
        if (own >= start && own <= end)
        {
            // The server sits in the upper half: the pool is the lower half instead.
            start = first + 1;
            end = first + (size / 2) - 1;
        }

        if (size < 8)
        {
            start = end = own;
        }

        return new SetupProposal(candidate, others.Count > 0 ? DhcpMode.Proxy : DhcpMode.Full, network,
            new Ipv4Address(start).ToIPAddress(), new Ipv4Address(end).ToIPAddress(),
            new Uri($"http://{candidate.Address}:8080"), others);
    }

    /// <summary>
    /// Sets the proposal's keys in the settings file, keeping every other key it holds. The file's
    /// comments do not survive (JSON has none to keep); the previous file is kept as FILE.bak.
    /// </summary>
    internal static async Task WriteAsync(string file, SetupProposal proposal, CancellationToken ct)
    {
        var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
        var root = File.Exists(file) ? JsonNode.Parse(await File.ReadAllTextAsync(file, ct).ConfigureAwait(false), documentOptions: options)?.AsObject() ?? [] : [];
        var kldload = Section(root, "Kldload");
        kldload["ServerUrl"] = proposal.ServerUrl.ToString().TrimEnd('/');
        var dhcp = Section(root, "Dhcp");
        dhcp["Mode"] = proposal.Mode.ToString();
        dhcp["Interface"] = proposal.Interface.Name;
        dhcp["ServerAddress"] = proposal.Interface.Address.ToString();
        dhcp["Subnets"] = proposal.Mode == DhcpMode.Full
            ? new JsonArray(new JsonObject
            {
                ["Network"] = proposal.Network.ToString(),
                ["PoolStart"] = proposal.PoolStart.ToString(),
                ["PoolEnd"] = proposal.PoolEnd.ToString(),
                ["LeaseTime"] = "01:00:00",
            })
            : new JsonArray();

        if (File.Exists(file))
        {
            File.Copy(file, file + ".bak", overwrite: true);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var temporary = file + ".tmp";
        await File.WriteAllTextAsync(temporary, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n", ct).ConfigureAwait(false);
        File.Move(temporary, file, overwrite: true);
    }

    private static JsonObject Section(JsonObject root, string name)
    {
        if (root[name] is JsonObject existing)
        {
            return existing;
        }

        var created = new JsonObject();
        root[name] = created;
        return created;
    }

    /// <summary>Interfaces that carry an IPv4 default route (<c>/proc/net/route</c>, destination 0).</summary>
    private static HashSet<string> DefaultRouteInterfaces()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (var line in File.ReadLines("/proc/net/route").Skip(1))
            {
                var fields = line.Split('\t', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (fields.Length > 2 && fields[1] == "00000000" && uint.TryParse(fields[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mask) && mask == 0)
                {
                    names.Add(fields[0]);
                }
            }
        }
        catch (IOException)
        {
            // No /proc/net/route: no interface is known to carry the default route.
        }

        return names;
    }
}
