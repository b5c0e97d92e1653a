using System.Globalization;
using System.Text;

namespace Kldload.Agent.Resident;

/// <summary>
/// The node's metrics in the Prometheus text format (version 0.0.4), read from <c>/proc</c> and
/// <c>/sys</c> under <see cref="Root"/> at each scrape: CPU time by mode (<c>/proc/stat</c>, in
/// USER_HZ = 1/100 s), memory (<c>/proc/meminfo</c>), disk I/O (<c>/proc/diskstats</c>, 512-byte
/// sectors), NIC counters (<c>/sys/class/net/*/statistics</c>), the WireGuard peers (handshakes and
/// bytes, from <c>wg</c>) and the resident agent's own state. Names follow node_exporter where one
/// exists, so existing dashboards read them.
/// </summary>
internal sealed class NodeMetrics(string root, ResidentAgent agent, IMeshInterface link)
{
    private static readonly string[] CpuModes = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];

    public string Root => root;

    public string Render()
    {
        var sb = new StringBuilder();
        Cpu(sb);
        Memory(sb);
        Disks(sb);
        Nics(sb);
        WireGuard(sb);
        Agent(sb);
        return sb.ToString();
    }

    private string? Read(string relative)
    {
        try
        {
            return File.ReadAllText(Path.Combine(root, relative));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private void Cpu(StringBuilder sb)
    {
        var line = Read("proc/stat")?.Split('\n').FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        if (line is null)
        {
            return;
        }

        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Header(sb, "node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode (all CPUs together).");
        for (var i = 0; i < CpuModes.Length && i + 1 < fields.Length; i++)
        {
            if (long.TryParse(fields[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks))
            {
                sb.Append(CultureInfo.InvariantCulture, $"node_cpu_seconds_total{{mode=\"{CpuModes[i]}\"}} {ticks / 100.0}\n");
            }
        }
    }

    private void Memory(StringBuilder sb)
    {
        if (Read("proc/meminfo") is not { } text)
        {
            return;
        }

        foreach (var (key, name) in new[] { ("MemTotal", "node_memory_MemTotal_bytes"), ("MemAvailable", "node_memory_MemAvailable_bytes"), ("MemFree", "node_memory_MemFree_bytes") })
        {
            var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(key + ":", StringComparison.Ordinal));
            var parts = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts is { Length: >= 2 } && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
            {
                Header(sb, name, "gauge", $"{key} from /proc/meminfo, in bytes.");
                sb.Append(CultureInfo.InvariantCulture, $"{name} {kib * 1024}\n");
            }
        }
    }

    private void Disks(StringBuilder sb)
    {
        if (Read("proc/diskstats") is not { } text)
        {
            return;
        }

        // Whole disks only (those in /sys/block), not partitions; loop and ram devices left out.
        var rows = new List<(string Device, long[] F)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 14 || f[2].StartsWith("loop", StringComparison.Ordinal) || f[2].StartsWith("ram", StringComparison.Ordinal)
                || !Directory.Exists(Path.Combine(root, "sys/block", f[2])))
            {
                continue;
            }

            var values = f.Skip(3).Take(11).Select(v => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0).ToArray();
            rows.Add((f[2], values));
        }

        Series(sb, "node_disk_reads_completed_total", "counter", "Reads completed.", rows, r => r.F[0]);
        Series(sb, "node_disk_read_bytes_total", "counter", "Bytes read.", rows, r => r.F[2] * 512);
        Series(sb, "node_disk_writes_completed_total", "counter", "Writes completed.", rows, r => r.F[4]);
        Series(sb, "node_disk_written_bytes_total", "counter", "Bytes written.", rows, r => r.F[6] * 512);
    }

    private static void Series(StringBuilder sb, string name, string type, string help, List<(string Device, long[] F)> rows, Func<(string Device, long[] F), long> value)
    {
        if (rows.Count == 0)
        {
            return;
        }

        Header(sb, name, type, help);
        foreach (var r in rows)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{name}{{device=\"{Escape(r.Device)}\"}} {value(r)}\n");
        }
    }

    private void Nics(StringBuilder sb)
    {
        var net = Path.Combine(root, "sys/class/net");
        if (!Directory.Exists(net))
        {
            return;
        }

        var devices = Directory.GetDirectories(net).Select(Path.GetFileName).Where(d => d is not null).Order(StringComparer.Ordinal).ToList();
        foreach (var (file, name) in new[] { ("rx_bytes", "node_network_receive_bytes_total"), ("tx_bytes", "node_network_transmit_bytes_total"), ("rx_packets", "node_network_receive_packets_total"), ("tx_packets", "node_network_transmit_packets_total"), ("rx_dropped", "node_network_receive_drop_total") })
        {
            var any = false;
            foreach (var device in devices)
            {
                if (Read($"sys/class/net/{device}/statistics/{file}") is { } text && long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    if (!any)
                    {
                        Header(sb, name, "counter", $"{file} of each interface.");
                        any = true;
                    }

                    sb.Append(CultureInfo.InvariantCulture, $"{name}{{device=\"{Escape(device!)}\"}} {n}\n");
                }
            }
        }
    }

    private void WireGuard(StringBuilder sb)
    {
        IReadOnlyList<LivePeer> peers;
        try
        {
            peers = link.Peers();
        }
        catch (Exception e) when (e is Kldload.MeshCA.Links.WireGuardLinkException or IOException)
        {
            return;
        }

        var names = agent.Bundle.Peers.ToDictionary(p => Kldload.MeshCA.WireGuardKey.ToBase64(p.PublicKey), p => p.Name, StringComparer.Ordinal);
        string Labels(LivePeer p) => $"{{peer=\"{Escape(names.GetValueOrDefault(p.PublicKey, "unknown"))}\",public_key=\"{Escape(p.PublicKey)}\"}}";
        Header(sb, "kldload_wireguard_peer_last_handshake_seconds", "gauge", "Unix time of the last handshake with the peer (0: never).");
        foreach (var p in peers)
        {
            sb.Append(CultureInfo.InvariantCulture, $"kldload_wireguard_peer_last_handshake_seconds{Labels(p)} {p.LastHandshake?.ToUnixTimeSeconds() ?? 0}\n");
        }

        Header(sb, "kldload_wireguard_peer_receive_bytes_total", "counter", "Bytes received from the peer.");
        foreach (var p in peers)
        {
            sb.Append(CultureInfo.InvariantCulture, $"kldload_wireguard_peer_receive_bytes_total{Labels(p)} {p.RxBytes}\n");
        }

        Header(sb, "kldload_wireguard_peer_transmit_bytes_total", "counter", "Bytes sent to the peer.");
        foreach (var p in peers)
        {
            sb.Append(CultureInfo.InvariantCulture, $"kldload_wireguard_peer_transmit_bytes_total{Labels(p)} {p.TxBytes}\n");
        }
    }

    private void Agent(StringBuilder sb)
    {
        Header(sb, "kldload_agent_state", "gauge", "The resident agent's state (1 for the current one).");
        foreach (var state in new[] { "starting", "watching", "kldload-unreachable", "revoked" })
        {
            sb.Append(CultureInfo.InvariantCulture, $"kldload_agent_state{{state=\"{state}\"}} {(agent.State == state ? 1 : 0)}\n");
        }

        Header(sb, "kldload_agent_bundle_epoch", "gauge", "Mesh epoch of the applied peer bundle.");
        sb.Append(CultureInfo.InvariantCulture, $"kldload_agent_bundle_epoch {agent.AppliedEpoch}\n");
        Header(sb, "kldload_agent_bundles_applied_total", "counter", "Peer bundles verified and applied since the agent started.");
        sb.Append(CultureInfo.InvariantCulture, $"kldload_agent_bundles_applied_total {agent.BundlesApplied}\n");
        Header(sb, "kldload_agent_bundles_refused_total", "counter", "Peer bundles refused (stale, conflicting, foreign or bad signature).");
        sb.Append(CultureInfo.InvariantCulture, $"kldload_agent_bundles_refused_total {agent.BundlesRefused}\n");
        Header(sb, "kldload_agent_certificate_expiry_seconds", "gauge", "Unix time the node certificate runs out.");
        sb.Append(CultureInfo.InvariantCulture, $"kldload_agent_certificate_expiry_seconds {agent.CertificateNotAfter.ToUnixTimeSeconds()}\n");
        Header(sb, "kldload_agent_certificate_renewals_total", "counter", "Certificate renewals since the agent started.");
        sb.Append(CultureInfo.InvariantCulture, $"kldload_agent_certificate_renewals_total {agent.Renewals}\n");
        Header(sb, "kldload_agent_public_nic_locked", "gauge", "1 when the boot NIC's nftables ruleset is installed.");
        sb.Append(CultureInfo.InvariantCulture, $"kldload_agent_public_nic_locked {(agent.NicLocked ? 1 : 0)}\n");
        Header(sb, "kldload_agent_last_contact_seconds", "gauge", "Unix time of kldload's last answer on the control channel (0: none yet).");
        sb.Append(CultureInfo.InvariantCulture, $"kldload_agent_last_contact_seconds {agent.LastContact?.ToUnixTimeSeconds() ?? 0}\n");
    }

    private static void Header(StringBuilder sb, string name, string type, string help) =>
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n");

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
