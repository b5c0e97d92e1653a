using System.Diagnostics;
using System.Globalization;
using Kldload.MeshCA.Distribution;

namespace Kldload.MeshCA.Links;

/// <summary>How the WireGuard interface is implemented.</summary>
public enum WireGuardBackend : byte
{
    /// <summary>The Linux kernel module (<c>ip link add NAME type wireguard</c>).</summary>
    Kernel = 0,

    /// <summary><c>wireguard-go</c> in the foreground, as a child process of this one.</summary>
    Userspace = 1,
}

/// <summary>
/// One WireGuard interface, driven with <c>ip</c> and <c>wg</c>: created with the kernel module when
/// the kernel has it, otherwise with <c>wireguard-go</c>; removed on dispose. Shared by the hub (in the
/// provisioner) and the node agent. A stale interface of the same name (left by a crash) is replaced.
/// The private key only ever travels over a pipe to <c>wg</c>, never through a file or an argument.
/// </summary>
public sealed class WireGuardLink : IDisposable
{
    private static readonly TimeSpan UserspaceStartTimeout = TimeSpan.FromSeconds(10);
    private Process? _userspace;
    private bool _disposed;

    private WireGuardLink(string name, string? netns, WireGuardBackend backend, Process? userspace)
    {
        Name = name;
        Namespace = netns;
        Backend = backend;
        _userspace = userspace;
    }

    public string Name { get; }

    /// <summary>The network namespace the interface lives in; null = this process's namespace.</summary>
    public string? Namespace { get; }

    public WireGuardBackend Backend { get; }

    /// <summary>PID of the wireguard-go process, when <see cref="Backend"/> is userspace.</summary>
    public int? UserspacePid => _userspace?.Id;

    /// <summary>True when an interface called <paramref name="name"/> exists.</summary>
    public static bool Exists(string name, string? netns = null) =>
        SystemCommand.TryRun(netns, "ip", ["link", "show", "dev", name]).ExitCode == 0;

    /// <summary>
    /// Creates the interface (replacing a stale one), with the kernel module if possible, otherwise
    /// wireguard-go, unless <paramref name="preferred"/> forces a backend.
    /// </summary>
    public static WireGuardLink Create(string name, string? netns = null, WireGuardBackend? preferred = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (Exists(name, netns))
        {
            // A crash left it behind: remove it (a wireguard-go serving it exits with it).
            SystemCommand.Run(netns, "ip", ["link", "del", "dev", name]);
        }

        if (preferred != WireGuardBackend.Userspace)
        {
            var (code, _, stderr) = SystemCommand.TryRun(netns, "ip", ["link", "add", "dev", name, "type", "wireguard"]);
            if (code == 0)
            {
                return new WireGuardLink(name, netns, WireGuardBackend.Kernel, null);
            }

            if (preferred == WireGuardBackend.Kernel)
            {
                throw new WireGuardLinkException($"kernel WireGuard unavailable: {stderr.Trim()}");
            }
        }

        return new WireGuardLink(name, netns, WireGuardBackend.Userspace, StartUserspace(name, netns));
    }

    /// <summary>Sets the private key (over a pipe) and, when given, the listen port.</summary>
    public void SetPrivateKey(ReadOnlySpan<byte> privateKey, int? listenPort = null)
    {
        List<string> args = ["set", Name, "private-key", "/dev/stdin"];
        if (listenPort is { } port)
        {
            args.AddRange(["listen-port", port.ToString(CultureInfo.InvariantCulture)]);
        }

        SystemCommand.Run(Namespace, "wg", args, WireGuardKey.ToBase64(privateKey) + "\n");
    }

    /// <summary>Adds an interface address (<c>ip addr replace</c>, so an address already present is fine).</summary>
    public void AddAddress(InterfaceAddress address) =>
        SystemCommand.Run(Namespace, "ip", ["addr", "replace", address.ToString(), "dev", Name]);

    /// <summary>Sets the link up.</summary>
    public void Up() => SystemCommand.Run(Namespace, "ip", ["link", "set", "dev", Name, "up"]);

    /// <summary>
    /// Applies a whole configuration (<see cref="WireGuardConfigRenderer.RenderSetConf"/> text) with
    /// <c>wg syncconf</c>: peers not in it are removed, the others changed in place (sessions survive).
    /// The private key is merged in memory first, because a file without one clears the interface key.
    /// </summary>
    public void SyncConfiguration(string setConfText, ReadOnlySpan<byte> privateKey) =>
        SystemCommand.Run(Namespace, "wg", ["syncconf", Name, "/dev/stdin"], WireGuardConfigRenderer.MergePrivateKey(setConfText, privateKey));

    /// <summary>Adds or updates one peer (<c>wg set NAME peer KEY allowed-ips ... [endpoint ...] [persistent-keepalive ...]</c>).</summary>
    public void SetPeer(MeshPeer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        List<string> args = ["set", Name, "peer", WireGuardKey.ToBase64(peer.PublicKey), "allowed-ips", string.Join(',', peer.AllowedIps.Select(n => n.ToString()))];
        if (peer.Endpoint is { } endpoint)
        {
            args.AddRange(["endpoint", endpoint]);
        }

        args.AddRange(["persistent-keepalive", peer.PersistentKeepalive > 0 ? peer.PersistentKeepalive.ToString(CultureInfo.InvariantCulture) : "off"]);
        SystemCommand.Run(Namespace, "wg", args);
    }

    /// <summary>Removes one peer at once; any session with it ends.</summary>
    public void RemovePeer(ReadOnlySpan<byte> publicKey) =>
        SystemCommand.Run(Namespace, "wg", ["set", Name, "peer", WireGuardKey.ToBase64(publicKey), "remove"]);

    /// <summary>The public keys of the configured peers (<c>wg show NAME peers</c>).</summary>
    public IReadOnlyList<string> PeerKeys() =>
        [.. SystemCommand.Run(Namespace, "wg", ["show", Name, "peers"]).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    /// <summary>The interface's public key, or null when it has no private key (<c>wg show NAME public-key</c>).</summary>
    public string? PublicKey()
    {
        var text = SystemCommand.Run(Namespace, "wg", ["show", Name, "public-key"]).Trim();
        return text is "" or "(none)" ? null : text;
    }

    /// <summary>Deletes the interface and stops wireguard-go if it runs it.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        SystemCommand.TryRun(Namespace, "ip", ["link", "del", "dev", Name]);
        if (_userspace is { } p)
        {
            try
            {
                if (!p.WaitForExit(TimeSpan.FromSeconds(5)))
                {
                    p.Kill();
                    p.WaitForExit(TimeSpan.FromSeconds(5));
                }
            }
            catch (InvalidOperationException)
            {
                // already gone
            }

            p.Dispose();
            _userspace = null;
        }
    }

    private static Process StartUserspace(string name, string? netns)
    {
        var psi = new ProcessStartInfo(netns is null ? "wireguard-go" : "ip")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (netns is not null)
        {
            foreach (var a in new[] { "netns", "exec", netns, "wireguard-go" })
            {
                psi.ArgumentList.Add(a);
            }
        }

        psi.ArgumentList.Add("-f");
        psi.ArgumentList.Add(name);
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new WireGuardLinkException("cannot start wireguard-go");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new WireGuardLinkException($"no kernel WireGuard and cannot run wireguard-go: {e.Message}");
        }

        // Drain its output so it never blocks on a full pipe.
        p.OutputDataReceived += static (_, _) => { };
        p.ErrorDataReceived += static (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();

        var socket = $"/var/run/wireguard/{name}.sock";
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < UserspaceStartTimeout)
        {
            if (p.HasExited)
            {
                var code = p.ExitCode;
                p.Dispose();
                throw new WireGuardLinkException($"wireguard-go {name} exited with {code} at start");
            }

            if (File.Exists(socket) && Exists(name, netns))
            {
                return p;
            }

            Thread.Sleep(25);
        }

        p.Kill();
        p.Dispose();
        throw new WireGuardLinkException($"wireguard-go {name} did not create its interface within {UserspaceStartTimeout.TotalSeconds} s");
    }
}
