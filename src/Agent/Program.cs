using System.Reflection;
using Kldload.Agent;

// kldload-agent: runs inside the live image, started by its /init. Attests the node with its TPM,
// joins the WireGuard mesh and reports ready; one console line per step.
var version = typeof(KernelCommandLine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
if (args is ["version"] or ["--version"])
{
    Console.WriteLine($"kldload-agent {version}");
    return 0;
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
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};
try
{
    return await new NodeAgent(cmdline, new AgentOptions()).RunAsync(cts.Token);
}
catch (IOException e)
{
    NodeAgent.Say("FAILED: " + e.Message);
    return 1;
}
