using System.Net;
using System.Net.Sockets;
using System.Text;
using Kldload.MeshCA.Distribution;

namespace Kldload.Agent;

/// <summary>
/// The wg-quick style configuration the server hands over at activation, split into what <c>ip</c>
/// applies (the <c>Address</c> lines) and what <c>wg syncconf</c> accepts (everything else), plus the
/// hub's mesh address: interface id 1 of the node's mesh prefix.
/// </summary>
internal sealed record MeshConfiguration(IReadOnlyList<string> Addresses, string SetConf, IPAddress HubAddress)
{
    /// <summary>Splits the configuration; null with a reason when it has no usable IPv6 address.</summary>
    public static MeshConfiguration? TryParse(string wgQuick, out string? error)
    {
        ArgumentNullException.ThrowIfNull(wgQuick);
        var addresses = new List<string>();
        var setconf = new StringBuilder();
        foreach (var raw in wgQuick.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var trimmed = line.Trim();
            if (trimmed.StartsWith("Address", StringComparison.OrdinalIgnoreCase) && trimmed.Contains('=', StringComparison.Ordinal))
            {
                addresses.AddRange(trimmed[(trimmed.IndexOf('=', StringComparison.Ordinal) + 1)..]
                    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                continue;
            }

            setconf.Append(line).Append('\n');
        }

        IPAddress? hub = null;
        foreach (var a in addresses)
        {
            if (IPNetwork.TryParse(a, out var net) && net.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6
                && IPAddress.TryParse(a.AsSpan(0, a.IndexOf('/', StringComparison.Ordinal)), out _))
            {
                hub = HubOf(net);
                break;
            }
        }

        if (hub is null)
        {
            error = "the mesh configuration has no IPv6 Address line";
            return null;
        }

        error = null;
        return new MeshConfiguration(addresses, setconf.ToString(), hub);
    }

    /// <summary>
    /// The configuration of a verified peer bundle: its addresses for <c>ip</c>, its <c>wg syncconf</c>
    /// rendering, the hub at interface id 1 of its IPv6 prefix. Null with a reason without an IPv6 address.
    /// </summary>
    public static MeshConfiguration? FromBundle(PeerBundle bundle, out string? error)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        if (bundle.Addresses.FirstOrDefault(a => a.Address.AddressFamily == AddressFamily.InterNetworkV6) is not { Address: not null } v6)
        {
            error = "the peer bundle has no IPv6 address for this node";
            return null;
        }

        error = null;
        var bytes = v6.Address.GetAddressBytes();
        for (var bit = v6.PrefixLength; bit < 128; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        var hub = HubOf(new IPNetwork(new IPAddress(bytes), v6.PrefixLength));
        return new MeshConfiguration([.. bundle.Addresses.Select(a => a.ToString())], WireGuardConfigRenderer.RenderSetConf(bundle), hub);
    }

    /// <summary>The hub's address in <paramref name="prefix"/>: the prefix with interface id 1.</summary>
    public static IPAddress HubOf(IPNetwork prefix)
    {
        var bytes = prefix.BaseAddress.GetAddressBytes();
        bytes[^1] = 1;
        return new IPAddress(bytes);
    }

    /// <summary>The node's own IPv6 mesh address (without the prefix length).</summary>
    public string NodeAddress6 => Addresses.Select(a => a.Split('/')[0]).First(a => a.Contains(':', StringComparison.Ordinal));
}
