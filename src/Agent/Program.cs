using System.Reflection;
using Kldload.Agent;

// kldload-agent: runs inside the live image. The attestation and mesh join land with the agent issue;
// today it reports what it would do from the kernel command line.
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

Console.WriteLine($"kldload-agent {version}: server {cmdline.ServerUrl}");
return 0;
