using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Kldload.E2E.Tests;

/// <summary>
/// Types into a VM's serial console (QEMU's socket chardev) and reads the answer from the serial log.
/// The live image gives the console a shell once the agent is resident. Each command's output comes
/// back as one line between two markers; the closing marker holds an arithmetic expansion
/// (<c>$((6*7))</c>), so the line the terminal echoes as it is typed never matches, only the one the
/// shell prints. Commands stay short: busybox's line editing redraws lines wider than 80 columns.
/// </summary>
internal static class VmConsole
{
    private static int s_sequence;

    /// <summary>Types <paramref name="line"/> and Enter into the console.</summary>
    public static async Task TypeAsync(Vm vm, string line)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(vm.ConsoleSocket));
        await socket.SendAsync(Encoding.ASCII.GetBytes(line + "\n"));
        // Let QEMU hand the bytes to the UART before the connection closes.
        await Task.Delay(200);
    }

    /// <summary>Waits until the console shell runs commands (typing a probe every few seconds).</summary>
    public static async Task WaitForShellAsync(Vm vm, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        var tag = "sh" + Interlocked.Increment(ref s_sequence);
        while (true)
        {
            await TypeAsync(vm, $"echo @{tag}-$((6*7))@");
            for (var i = 0; i < 5; i++)
            {
                await Task.Delay(1000);
                if (BootLab.Tail(vm.SerialLog).Contains($"@{tag}-42@", StringComparison.Ordinal))
                {
                    return;
                }
            }

            Assert.True(DateTime.UtcNow < deadline && !vm.Qemu.HasExited, $"no shell on the console after {limit.TotalSeconds} s:\n{BootLab.Tail(vm.SerialLog)}");
        }
    }

    /// <summary>Starts <paramref name="command"/> in the console shell; <see cref="ResultAsync"/> collects its output.</summary>
    public static async Task<string> StartAsync(Vm vm, string command)
    {
        var tag = "c" + Interlocked.Increment(ref s_sequence);
        await TypeAsync(vm, $"echo \"@{tag}@ $({command} 2>&1|tr '\\n' ' ') @{tag}-$((6*7))@\"");
        return tag;
    }

    /// <summary>The output of the command started under <paramref name="tag"/>, on one line; fails after <paramref name="limit"/>.</summary>
    public static async Task<string> ResultAsync(Vm vm, string tag, TimeSpan limit)
    {
        var pattern = new Regex($"@{tag}@ (.*) @{tag}-42@");
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var console = File.ReadAllText(vm.SerialLog);
            if (pattern.Match(console) is { Success: true } m)
            {
                return m.Groups[1].Value.Trim();
            }

            Assert.True(DateTime.UtcNow < deadline && !vm.Qemu.HasExited, $"no answer to console command {tag} after {limit.TotalSeconds} s:\n{BootLab.Tail(vm.SerialLog)}");
            await Task.Delay(1000);
        }
    }

    /// <summary>Runs <paramref name="command"/> in the console shell and returns its output on one line.</summary>
    public static async Task<string> RunAsync(Vm vm, string command, TimeSpan limit) =>
        await ResultAsync(vm, await StartAsync(vm, command), limit);
}
