using System.Globalization;

namespace Kldload.Agent.Resident;

/// <summary>One peer of the live interface, as <c>wg show IFACE dump</c> prints it.</summary>
internal sealed record LivePeer(string PublicKey, string? Endpoint, IReadOnlyList<string> AllowedIps, DateTimeOffset? LastHandshake, long RxBytes, long TxBytes, int Keepalive);

/// <summary>
/// Reads <c>wg show IFACE dump</c>: a first line for the interface (private key, public key, listen
/// port, fwmark), then one tab-separated line per peer: public key, preshared key, endpoint, allowed
/// IPs (comma-separated), latest handshake (Unix seconds, 0 = never), bytes received, bytes sent,
/// persistent keepalive (<c>off</c> or seconds). <c>(none)</c> marks an empty field.
/// </summary>
internal static class WireGuardDump
{
    private const int PeerFields = 8;

    /// <summary>The peers; lines that do not have the peer layout are skipped.</summary>
    public static IReadOnlyList<LivePeer> ParsePeers(string dump)
    {
        ArgumentNullException.ThrowIfNull(dump);
        var peers = new List<LivePeer>();
        var lines = dump.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var line in lines.Skip(1))
        {
            var f = line.TrimEnd('\r').Split('\t');
            if (f.Length != PeerFields
                || !long.TryParse(f[4], NumberStyles.None, CultureInfo.InvariantCulture, out var handshake)
                || !long.TryParse(f[5], NumberStyles.None, CultureInfo.InvariantCulture, out var rx)
                || !long.TryParse(f[6], NumberStyles.None, CultureInfo.InvariantCulture, out var tx))
            {
                continue;
            }

            var keepalive = int.TryParse(f[7], NumberStyles.None, CultureInfo.InvariantCulture, out var k) ? k : 0;
            peers.Add(new LivePeer(
                f[0],
                f[2] == "(none)" ? null : f[2],
                f[3] == "(none)" ? [] : f[3].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                handshake == 0 ? null : DateTimeOffset.FromUnixTimeSeconds(handshake),
                rx,
                tx,
                keepalive));
        }

        return peers;
    }

    /// <summary>The interface's listen port from the first line, or null.</summary>
    public static int? ListenPort(string dump)
    {
        ArgumentNullException.ThrowIfNull(dump);
        var first = dump.Split('\n', 2)[0].Split('\t');
        return first.Length >= 3 && int.TryParse(first[2], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port > 0 ? port : null;
    }
}
