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
internal sealed class VmConsole : IAsyncDisposable
{
    private static int s_sequence;
    private readonly Vm _vm;
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _drain;

    private VmConsole(Vm vm, Socket socket)
    {
        _vm = vm;
        _socket = socket;
        _drain = DrainAsync();
    }

    /// <summary>
    /// Connects to the VM's console and keeps the connection: QEMU takes typed bytes from the socket
    /// only as fast as the emulated UART's FIFO empties, and bytes still unread when a connection
    /// closes are lost (a long line typed on a busy TCG guest was cut off that way).
    /// </summary>
    public static async Task<VmConsole> ConnectAsync(Vm vm)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(vm.ConsoleSocket));
            return new VmConsole(vm, socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads and discards what the VM writes to the socket (the serial log keeps it): a client that
    /// does not read would fill the socket and stall the guest's console output.
    /// </summary>
    private async Task DrainAsync()
    {
        var buffer = new byte[4096];
        try
        {
            while (await _socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token) > 0)
            {
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The console closed or the test is done with it.
        }
    }

    /// <summary>Types <paramref name="line"/> and Enter into the console.</summary>
    public async Task TypeAsync(string line) => await _socket.SendAsync(Encoding.ASCII.GetBytes(line + "\n"));

    /// <summary>Waits until the console shell runs commands (typing a probe every few seconds).</summary>
    public async Task WaitForShellAsync(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        var tag = "sh" + Interlocked.Increment(ref s_sequence);
        while (true)
        {
            await TypeAsync($"echo @{tag}-$((6*7))@");
            for (var i = 0; i < 5; i++)
            {
                await Task.Delay(1000);
                if (BootLab.Tail(_vm.SerialLog).Contains($"@{tag}-42@", StringComparison.Ordinal))
                {
                    return;
                }
            }

            Assert.True(DateTime.UtcNow < deadline && !_vm.Qemu.HasExited, $"no shell on the console after {limit.TotalSeconds} s:\n{BootLab.Tail(_vm.SerialLog)}");
        }
    }

    /// <summary>Starts <paramref name="command"/> in the console shell; <see cref="ResultAsync"/> collects its output.</summary>
    public async Task<string> StartAsync(string command)
    {
        var tag = "c" + Interlocked.Increment(ref s_sequence);
        await TypeAsync($"echo \"@{tag}@ $({command} 2>&1|tr '\\n' ' ') @{tag}-$((6*7))@\"");
        return tag;
    }

    /// <summary>The output of the command started under <paramref name="tag"/>, on one line; fails after <paramref name="limit"/>.</summary>
    public async Task<string> ResultAsync(string tag, TimeSpan limit)
    {
        var pattern = new Regex($"@{tag}@ (.*) @{tag}-42@");
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var console = File.ReadAllText(_vm.SerialLog);
            if (pattern.Match(console) is { Success: true } m)
            {
                return m.Groups[1].Value.Trim();
            }

            Assert.True(DateTime.UtcNow < deadline && !_vm.Qemu.HasExited, $"no answer to console command {tag} after {limit.TotalSeconds} s:\n{BootLab.Tail(_vm.SerialLog)}");
            await Task.Delay(1000);
        }
    }

    /// <summary>Runs <paramref name="command"/> in the console shell and returns its output on one line.</summary>
    public async Task<string> RunAsync(string command, TimeSpan limit) => await ResultAsync(await StartAsync(command), limit);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Dispose();
        await _drain;
        _stop.Dispose();
    }
}
