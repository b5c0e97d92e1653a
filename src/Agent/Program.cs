using System.Reflection;
using Kldload.Agent;
using Kldload.Agent.Resident;

// kldload-agent: runs inside the live image, started by its /init. Attests the node with its TPM,
// joins the WireGuard mesh and reports ready; one console line per step. Then it stays resident
// (control channel, metrics); `kldload-agent resident` resumes that after a crash without attesting.
var version = typeof(KernelCommandLine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
if (args is ["version"] or ["--version"])
{
    Console.WriteLine($"kldload-agent {version}");
    return 0;
}

if (args is ["dhcp6", var dhcp6Interface])
{
    // The live image's /init on an IPv6 boot (kldload.net=dhcp6): one address by DHCPv6 on the NIC.
    var binding = await Dhcp6Client.RunAsync(dhcp6Interface, TimeSpan.FromSeconds(10), NodeAgent.Say, CancellationToken.None);
    if (binding is null)
    {
        NodeAgent.Say($"dhcp6: no address on {dhcp6Interface}");
        return 1;
    }

    // A /128: which prefix is on-link is the router advertisement's to say (RFC 8415 section 21.6).
    var added = NodeAgent.Run("ip", "-6", "addr", "replace", $"{binding.Address}/128", "dev", dhcp6Interface,
        "valid_lft", binding.ValidLifetime.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "preferred_lft", binding.PreferredLifetime.ToString(System.Globalization.CultureInfo.InvariantCulture), "nodad");
    NodeAgent.Say($"dhcp6: {dhcp6Interface} {binding.Address} (valid {binding.ValidLifetime}s, server {binding.ServerId}){(added == 0 ? "" : "; ip addr add FAILED")}");
    return added == 0 ? 0 : 1;
}

var options = AgentOptions.FromEnvironment(Environment.GetEnvironmentVariable);
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => cts.Cancel();

if (args is ["resident"])
{
    if (ResidentHost.Load(options.ResidentStatePath) is not { } saved)
    {
        Console.Error.WriteLine($"kldload-agent: no resident state in {options.ResidentStatePath}: this boot never reached Ready");
        return 1;
    }

    NodeAgent.Say($"{version}: resident again (restarted), node {saved.NodeId}");
    return await ResidentHost.RunAsync(saved, options, cts.Token);
}

var cmdlinePath = args.Length > 0 ? args[0] : "/proc/cmdline";
if (!File.Exists(cmdlinePath))
{
    Console.Error.WriteLine($"kldload-agent: cannot read {cmdlinePath}: is /proc mounted?");
    return 1;
}

var cmdline = KernelCommandLine.Parse(File.ReadAllText(cmdlinePath));
if (cmdline.ServerUrl is null || cmdline.BootToken is null)
{
    Console.Error.WriteLine("kldload-agent: kldload.server= or kldload.token= missing from the kernel command line; boot this node from kldload's iPXE script");
    return 1;
}

NodeAgent.Say($"{version}: server {cmdline.ServerUrl}");
try
{
    var agent = new NodeAgent(cmdline, options);
    var exit = await agent.RunAsync(cts.Token);
    if (exit != NodeAgent.ExitReady || agent.Resident is not { } resident || !options.Resident)
    {
        return exit;
    }

    ResidentHost.Save(options.ResidentStatePath, resident);
    return await ResidentHost.RunAsync(resident, options, cts.Token);
}
catch (IOException e)
{
    NodeAgent.Say("FAILED: " + e.Message);
    return 1;
}
