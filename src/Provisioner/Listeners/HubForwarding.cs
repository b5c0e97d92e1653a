using System.Globalization;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// The sysctls that let the hub route between its peers: IPv4 forwarding on the hub interface (Linux
/// decides IPv4 forwarding by the interface a packet came in on) and IPv6 forwarding host-wide
/// (<c>net.ipv6.conf.all.forwarding</c>: IPv6 has no per-interface switch). A node that does not peer
/// directly with another, and every node behind another provisioner's hub, is reached through them.
/// Each value found is put back by <see cref="Restore"/>, in the network namespace kldload runs in.
/// </summary>
internal sealed class HubForwarding
{
    private readonly List<(string Path, string Before)> _changed = [];
    private readonly List<string> _on = [];

    private HubForwarding()
    {
    }

    /// <summary>Turns forwarding on for <paramref name="hubInterface"/>; a sysctl already on is left alone and not restored.</summary>
    public static HubForwarding TurnOn(string hubInterface)
    {
        var forwarding = new HubForwarding();
        forwarding.Set($"/proc/sys/net/ipv4/conf/{hubInterface}/forwarding");
        forwarding.Set("/proc/sys/net/ipv6/conf/all/forwarding");
        return forwarding;
    }

    /// <summary>Which sysctls are on and which of them kldload turned on, for the log.</summary>
    public string Describe() => string.Join(", ", _on) + (_changed.Count == 0 ? " (already on)" : string.Create(CultureInfo.InvariantCulture, $" ({_changed.Count} turned on by kldload)"));

    /// <summary>Puts back each value this instance changed.</summary>
    public void Restore()
    {
        foreach (var (path, before) in _changed)
        {
            try
            {
                File.WriteAllText(path, before);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The interface may be gone already (its sysctl with it); nothing else to put back.
            }
        }

        _changed.Clear();
    }

    private void Set(string path)
    {
        var name = path["/proc/sys/".Length..].Replace('/', '.');
        var before = File.ReadAllText(path).Trim();
        if (before != "1")
        {
            File.WriteAllText(path, "1");
            _changed.Add((path, before));
        }

        _on.Add(name + "=1");
    }
}
