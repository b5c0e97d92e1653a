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
