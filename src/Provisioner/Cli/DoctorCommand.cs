using System.CommandLine;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Cli;

/// <summary>One check of <c>kldload doctor</c>: what was looked at, and for a problem, the fix.</summary>
internal sealed record DoctorFinding(string Check, DoctorStatus Status, string Detail, string? Fix = null);

internal enum DoctorStatus
{
    Ok,
    Problem,
    Skipped,
}

/// <summary>
/// <c>kldload doctor</c>: checks the settings in force against the machine (the data directory, the
/// boot loaders, the listen ports, the DHCP interface, other DHCP servers on it) and prints what is
/// wrong with the fix for each; exit 1 when anything is.
/// </summary>
internal static class DoctorCommand
{
    public static Command Create()
    {
        var wait = new Option<TimeSpan>("--dhcp-wait")
        {
            Description = "How long to listen for other DHCP servers' offers (default 00:00:03).",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(3),
            HelpName = "DURATION",
        };
        var urls = new Option<string?>("--urls")
        {
            Description = "The HTTP listen URLs to check, as kldload serve takes them (default http://0.0.0.0:8080; also ASPNETCORE_URLS).",
            HelpName = "URLS",
        };
        var json = new Option<bool>("--json") { Description = "Print the findings as JSON (check, status, detail, fix) for scripts." };
        var doctor = new Command("doctor", "Check the settings in force against this machine and print the fix for every problem (exit 1 when any). Settings: --Section:Key=value.");
        doctor.Options.Add(wait);
        doctor.Options.Add(urls);
        doctor.Options.Add(json);
        doctor.SetAction(async (parse, ct) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var overrides = SettingOverrides.From(parse.UnmatchedTokens).ToList();
            if (parse.GetValue(urls) is { } u)
            {
                overrides.Add($"--urls={u}");
            }

            var root = KldloadConfiguration.BuildRoot(overrides);
            var config = KldloadConfiguration.Load(root, out var errors);
            var findings = new List<DoctorFinding>();
            if (errors.Count > 0)
            {
                findings.AddRange(errors.Select(e => new DoctorFinding("settings", DoctorStatus.Problem, e.ToString(), "correct the setting as the line says (appsettings.json, KLDLOAD_ variables or --Section:Key=value)")));
            }
            else
            {
                findings.Add(new DoctorFinding("settings", DoctorStatus.Ok, $"read from {KldloadConfiguration.DefaultSettingsFile()} and overrides; every value valid"));
                findings.AddRange(await CheckAsync(config, parse.GetValue(wait), ct).ConfigureAwait(false));
            }

            var problems = findings.Count(f => f.Status == DoctorStatus.Problem);
            if (parse.GetValue(json))
            {
                var doc = new JsonObject
                {
                    ["problems"] = problems,
                    ["findings"] = new JsonArray(findings.Select(f => (JsonNode)new JsonObject
                    {
                        ["check"] = f.Check,
                        ["status"] = f.Status.ToString().ToLowerInvariant(),
                        ["detail"] = f.Detail,
                        ["fix"] = f.Fix,
                    }).ToArray()),
                };
                await stdout.WriteLineAsync(doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true })).ConfigureAwait(false);
                return problems == 0 ? ExitCodes.Ok : ExitCodes.Failed;
            }

            foreach (var f in findings)
            {
                var mark = f.Status switch { DoctorStatus.Ok => "ok     ", DoctorStatus.Skipped => "skipped", _ => "PROBLEM" };
                await stdout.WriteLineAsync($"{mark} {f.Check}: {f.Detail}").ConfigureAwait(false);
                if (f.Fix is not null)
                {
                    await stdout.WriteLineAsync($"        fix: {f.Fix}").ConfigureAwait(false);
                }
            }

            await stdout.WriteLineAsync(problems == 0 ? "kldload doctor: no problem found" : $"kldload doctor: {problems} problem{(problems == 1 ? string.Empty : "s")}").ConfigureAwait(false);
            return problems == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return doctor;
    }

    /// <summary>Every check after the settings themselves, in the order an operator fixes them.</summary>
    internal static async Task<List<DoctorFinding>> CheckAsync(KldloadConfiguration config, TimeSpan dhcpWait, CancellationToken ct, bool probeDhcp = true)
    {
        var findings = new List<DoctorFinding>();
        var running = DataDirectoryLock.IsHeld(config.Kldload.DataDir);
        findings.Add(running
            ? new DoctorFinding("server", DoctorStatus.Ok, $"a kldload serve holds {config.Kldload.DataDir} ({DataDirectoryLock.ReadPublishedUrl(config.Kldload.DataDir)?.ToString() ?? "no URL published"}); its ports are checked as in use by it")
            : new DoctorFinding("server", DoctorStatus.Ok, $"no kldload serve runs on {config.Kldload.DataDir}"));
        findings.AddRange(CheckLoaders(config));
        if (!running)
        {
            findings.AddRange(CheckPorts(config));
        }

        if (probeDhcp)
        {
            findings.AddRange(await CheckDhcpAsync(config, running, dhcpWait, ct).ConfigureAwait(false));
        }

        return findings;
    }

    private static IEnumerable<DoctorFinding> CheckLoaders(KldloadConfiguration config)
    {
        if (!config.Tftp.Enabled)
        {
            yield return new DoctorFinding("loaders", DoctorStatus.Skipped, "Tftp:Enabled is false: nodes must get their loader elsewhere");
            yield break;
        }

        if (config.Tftp.RootMissing)
        {
            yield return new DoctorFinding("loaders", DoctorStatus.Problem, $"Tftp:Root {config.Tftp.Root} does not exist", "apt install ipxe (it fills /usr/lib/ipxe), or set Tftp:Root to a directory of boot loaders");
            yield break;
        }

        var loaders = config.Boot.Loaders;
        foreach (var (key, file) in new[] { ("Bios", loaders.Bios), ("EfiX64", loaders.EfiX64), ("EfiArm64", loaders.EfiArm64), ("EfiX64Http", loaders.EfiX64Http) })
        {
            var path = Path.Combine(config.Tftp.Root, file);
            var info = new FileInfo(path);
            if (info.Exists && info.LinkTarget is null)
            {
                yield return new DoctorFinding("loaders", DoctorStatus.Ok, $"Boot:Loaders:{key} {path} ({info.Length:N0} bytes)");
            }
            else if (key == "EfiArm64")
            {
                // Debian 12 ships no ARM64 iPXE: only a problem for a site with ARM64 nodes.
                yield return new DoctorFinding("loaders", DoctorStatus.Skipped, $"Boot:Loaders:{key} {path} is missing: ARM64 UEFI nodes get no loader (Debian 12 has no ARM64 iPXE)");
            }
            else
            {
                var why = info.Exists ? $"is a link to {info.LinkTarget}, which TFTP does not follow" : "is missing";
                yield return new DoctorFinding("loaders", DoctorStatus.Problem, $"Boot:Loaders:{key} {path} {why}", "apt install ipxe, or point Boot:Loaders:" + key + " at a plain file under Tftp:Root");
            }
        }
    }

    private static IEnumerable<DoctorFinding> CheckPorts(KldloadConfiguration config)
    {
        foreach (var url in config.Urls)
        {
            var address = url.Host is "0.0.0.0" or "*" or "+" ? IPAddress.Any : IPAddress.TryParse(url.Host.Trim('[', ']'), out var a) ? a : IPAddress.Any;
            yield return Bind("http", SocketType.Stream, new IPEndPoint(address, url.Port), "--urls", "stop what listens there, or choose another port with --urls");
        }

        if (config.Tftp.Enabled)
        {
            yield return Bind("tftp", SocketType.Dgram, config.Tftp.Endpoint, "Tftp:Endpoint", "stop the other TFTP server (systemctl stop tftpd-hpa, or dnsmasq's enable-tftp), or set Tftp:Endpoint");
        }

        if (config.Dhcp.Mode != DhcpMode.Off)
        {
            yield return Bind("dhcp", SocketType.Dgram, new IPEndPoint(IPAddress.Any, config.Dhcp.Port), "Dhcp:Port", "stop the other DHCP server on this host (dnsmasq, isc-dhcp-server, kea-dhcp4), or set Dhcp:Mode=Off");
        }
    }

    private static DoctorFinding Bind(string check, SocketType type, IPEndPoint endpoint, string setting, string fix)
    {
        try
        {
            using var socket = new Socket(endpoint.AddressFamily, type, type == SocketType.Stream ? ProtocolType.Tcp : ProtocolType.Udp);
            socket.Bind(endpoint);
            return new DoctorFinding(check, DoctorStatus.Ok, $"{endpoint} ({setting}) is free");
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return new DoctorFinding(check, DoctorStatus.Problem, $"{endpoint} ({setting}) is in use by another program", fix);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
        {
            return new DoctorFinding(check, DoctorStatus.Problem, $"{endpoint} ({setting}) needs root or CAP_NET_BIND_SERVICE", "run as root, or through the package's kldload.service, which grants CAP_NET_BIND_SERVICE");
        }
        catch (SocketException e)
        {
            return new DoctorFinding(check, DoctorStatus.Problem, $"{endpoint} ({setting}) cannot be bound: {e.Message}", fix);
        }
    }

    private static async Task<List<DoctorFinding>> CheckDhcpAsync(KldloadConfiguration config, bool running, TimeSpan wait, CancellationToken ct)
    {
        var dhcp = config.Dhcp;
        if (dhcp.Mode == DhcpMode.Off || dhcp.Interface is null)
        {
            return [new DoctorFinding("dhcp", DoctorStatus.Skipped, "Dhcp:Mode is Off: kldload answers no DHCP; nodes need another server that points them at kldload")];
        }

        var findings = new List<DoctorFinding>();
        var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == dhcp.Interface);
        if (nic is null)
        {
            findings.Add(new DoctorFinding("dhcp", DoctorStatus.Problem, $"Dhcp:Interface {dhcp.Interface} does not exist", "set Dhcp:Interface to the boot network's interface (ip -br addr lists them)"));
            return findings;
        }

        if (nic.OperationalStatus is not (OperationalStatus.Up or OperationalStatus.Unknown))
        {
            findings.Add(new DoctorFinding("dhcp", DoctorStatus.Problem, $"Dhcp:Interface {dhcp.Interface} is {nic.OperationalStatus}", $"ip link set {dhcp.Interface} up, and check its cable or bridge"));
        }

        var own = nic.GetIPProperties().UnicastAddresses.Select(u => u.Address).Where(a => a.AddressFamily == AddressFamily.InterNetwork).ToList();
        if (own.Count == 0)
        {
            findings.Add(new DoctorFinding("dhcp", DoctorStatus.Problem, $"Dhcp:Interface {dhcp.Interface} has no IPv4 address", $"give it the boot network's address (ip addr add ADDRESS/PREFIX dev {dhcp.Interface})"));
            return findings;
        }

        findings.Add(new DoctorFinding("dhcp", DoctorStatus.Ok, $"Dhcp:Interface {dhcp.Interface} is up with {string.Join(", ", own)}"));
        if (dhcp.ServerAddress is { } server && !own.Contains(server))
        {
            findings.Add(new DoctorFinding("dhcp", DoctorStatus.Problem, $"Dhcp:ServerAddress {server} is not an address of {dhcp.Interface}", $"set Dhcp:ServerAddress to one of {string.Join(", ", own)}, or leave it empty"));
        }

        IReadOnlyList<ForeignDhcpServer> answered;
        try
        {
            answered = await ForeignDhcpProbe.DiscoverAsync(dhcp.Interface, wait, ct).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            findings.Add(new DoctorFinding("other dhcp servers", DoctorStatus.Skipped, $"could not probe {dhcp.Interface} ({e.Message}; needs root or CAP_NET_RAW and UDP port 68)"));
            return findings;
        }

        // A running kldload answers the probe too: its own offers are not another server's.
        var mine = dhcp.ServerAddress is { } s ? [s] : own;
        var others = answered.Where(a => !running || !mine.Contains(a.ServerId)).ToList();
        var names = string.Join(", ", others.Select(o => $"{o.ServerId} (offered {o.Offered})"));
        findings.Add((dhcp.Mode, others.Count) switch
        {
            (DhcpMode.Full, > 0) => new DoctorFinding("other dhcp servers", DoctorStatus.Problem,
                $"another DHCP server answers on {dhcp.Interface}: {names}; two servers would hand out addresses",
                "set Dhcp:Mode=Proxy (kldload adds only the boot options, the other server keeps the addresses), or turn the other server off"),
            (DhcpMode.Full, _) => new DoctorFinding("other dhcp servers", DoctorStatus.Ok, $"no other DHCP server answered on {dhcp.Interface} within {wait.TotalSeconds:0.#} s"),
            (_, 0) => new DoctorFinding("other dhcp servers", DoctorStatus.Problem,
                $"no DHCP server answered on {dhcp.Interface} within {wait.TotalSeconds:0.#} s: in Proxy mode nodes would get boot options but no address",
                "set Dhcp:Mode=Full with Dhcp:Subnets (kldload hands out the addresses), or start the segment's DHCP server"),
            _ => new DoctorFinding("other dhcp servers", DoctorStatus.Ok, $"Proxy mode beside {names}"),
        });
        return findings;
    }
}
