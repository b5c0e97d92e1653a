using System.Globalization;
using System.Text;

namespace Kldload.MeshCA.Distribution;

/// <summary>
/// Renders a <see cref="PeerBundle"/> as WireGuard configuration text. Neither rendering ever carries
/// a private key: <c>wg setconf</c> and <c>wg syncconf</c> treat a file without one as "no key" and
/// would clear the interface key, so the node agent (or the hub) merges its own key in memory with
/// <see cref="MergePrivateKey"/> and feeds the result to <c>wg syncconf IFACE /dev/stdin</c>.
/// </summary>
public static class WireGuardConfigRenderer
{
    /// <summary>wg-quick(8) style: <c>[Interface]</c> with <c>Address</c> (and <c>ListenPort</c> for the hub), then one <c>[Peer]</c> per peer.</summary>
    public static string RenderWgQuick(PeerBundle bundle) => Render(bundle, withAddresses: true);

    /// <summary>wg(8) <c>setconf</c>/<c>syncconf</c> style: the same without the wg-quick-only <c>Address</c> lines.</summary>
    public static string RenderSetConf(PeerBundle bundle) => Render(bundle, withAddresses: false);

    /// <summary>
    /// Inserts <c>PrivateKey = ...</c> as the first line of the <c>[Interface]</c> section. Keep the
    /// result in memory only. Throws if the configuration already has a private key or no interface section.
    /// </summary>
    public static string MergePrivateKey(string configuration, ReadOnlySpan<byte> privateKey)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var lines = configuration.Split('\n');
        if (lines.Any(l => l.TrimStart().StartsWith("PrivateKey", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException("the configuration already carries a private key", nameof(configuration));
        }

        var index = Array.FindIndex(lines, l => l.Trim().Equals("[Interface]", StringComparison.OrdinalIgnoreCase));
        if (index < 0)
        {
            throw new ArgumentException("the configuration has no [Interface] section", nameof(configuration));
        }

        var merged = new List<string>(lines);
        merged.Insert(index + 1, "PrivateKey = " + WireGuardKey.ToBase64(privateKey));
        return string.Join('\n', merged);
    }

    private static string Render(PeerBundle bundle, bool withAddresses)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"# kldload mesh: {bundle.NodeId}, epoch {bundle.Epoch}, key epoch {bundle.KeyEpoch}, {bundle.Peers.Count} peers, {bundle.Revoked.Count} revoked keys\n");
        sb.Append("# The interface key comes from the node's TPM and is merged in memory; it is never written here.\n");
        sb.Append("[Interface]\n");
        if (withAddresses && bundle.Addresses.Count > 0)
        {
            sb.Append("Address = ").AppendJoin(", ", bundle.Addresses.Select(a => a.ToString())).Append('\n');
        }

        if (bundle.ListenPort is { } port)
        {
            sb.Append(inv, $"ListenPort = {port}\n");
        }

        foreach (var p in bundle.Peers)
        {
            sb.Append('\n');
            sb.Append("# ").Append(p.Name).Append('\n');
            sb.Append("[Peer]\n");
            sb.Append("PublicKey = ").Append(WireGuardKey.ToBase64(p.PublicKey)).Append('\n');
            if (p.AllowedIps.Count > 0)
            {
                // wg refuses an empty AllowedIPs line; a peer routing nothing (another site's hub with
                // no members yet) is written without one.
                sb.Append("AllowedIPs = ").AppendJoin(", ", p.AllowedIps.Select(n => n.ToString())).Append('\n');
            }

            if (p.Endpoint is { } e)
            {
                sb.Append("Endpoint = ").Append(e).Append('\n');
            }

            if (p.PersistentKeepalive > 0)
            {
                sb.Append(inv, $"PersistentKeepalive = {p.PersistentKeepalive}\n");
            }
        }

        return sb.ToString();
    }
}
