using System.Net;
using System.Text;

namespace Kldload.MeshCA.Links;

/// <summary>
/// The nftables ruleset that keeps mesh addresses on the mesh: a packet from or to the mesh prefix
/// that arrives on any interface but the WireGuard one (or loopback) is dropped before routing.
/// Binding a service to the hub address is not enough on its own: Linux accepts a packet for any
/// local address on any interface (weak host model), so a LAN neighbour could route to it directly.
/// </summary>
public static class MeshFirewall
{
    /// <summary>Renders the ruleset for <c>nft -f</c>; it replaces table <c>inet kldload_mesh</c> as a whole.</summary>
    public static string RenderNftables(string wireGuardInterface, IPNetwork prefix6, IPNetwork? cidr4)
    {
        ArgumentException.ThrowIfNullOrEmpty(wireGuardInterface);
        var sb = new StringBuilder();
        sb.Append("table inet kldload_mesh\n");
        sb.Append("delete table inet kldload_mesh\n");
        sb.Append("table inet kldload_mesh {\n");
        sb.Append("  chain prerouting {\n");
        sb.Append("    type filter hook prerouting priority raw; policy accept;\n");
        sb.Append("    iifname { \"").Append(wireGuardInterface).Append("\", \"lo\" } accept\n");
        sb.Append("    ip6 saddr ").Append(prefix6).Append(" drop\n");
        sb.Append("    ip6 daddr ").Append(prefix6).Append(" drop\n");
        if (cidr4 is { } v4)
        {
            sb.Append("    ip saddr ").Append(v4).Append(" drop\n");
            sb.Append("    ip daddr ").Append(v4).Append(" drop\n");
        }

        sb.Append("  }\n");
        sb.Append("}\n");
        return sb.ToString();
    }
}
