using System.Globalization;
using System.Text;

namespace Kldload.Agent;

/// <summary>
/// The nftables ruleset that locks the node's public NIC (the boot NIC) down once it is on the mesh:
/// inbound on that interface only what the node needs, everything else refused; every other
/// interface (the WireGuard one, loopback) is untouched, so services reach the node over the mesh.
/// Allowed inbound on the NIC:
/// <list type="bullet">
/// <item>replies to what the node sent (<c>ct state established,related</c>), which covers the hub's
/// WireGuard answers to a node that dials out, and the node's own HTTP and DNS traffic;</item>
/// <item>DHCP replies (UDP 67 to 68), which conntrack does not match to the broadcast request (RFC 2131
/// section 4.1: the server answers to the broadcast address);</item>
/// <item>the node's WireGuard listen port, when its bundle sets one (direct peers dial it);</item>
/// <item>ICMPv6 neighbour discovery with hop limit 255 (RFC 4861 section 7.1.1): without solicitations
/// and advertisements arriving, IPv6 on the NIC stops resolving neighbours. IPv4's ARP is not seen by
/// an <c>inet</c> table.</item>
/// </list>
/// The rest is counted and refused rather than silently dropped, as firewalld's default zone does: a
/// TCP reset, or ICMP "administratively prohibited" (RFC 1812 section 5.2.7.1; ICMPv6 code 1, RFC 4443
/// section 3.1), both rate-limited by the kernel. A scan of the LAN address then tells the one open
/// WireGuard port (no answer: WireGuard stays silent to what it cannot authenticate) from everything
/// else (refused); with a plain drop every UDP port would look alike.
/// </summary>
public static class PublicNicFirewall
{
    /// <summary>The table the ruleset owns; <c>nft -f</c> replaces it as a whole.</summary>
    public const string Table = "kldload_nic";

    /// <summary>Renders the ruleset for <c>nft -f</c>.</summary>
    /// <param name="publicInterface">the boot NIC, for example <c>eth0</c></param>
    /// <param name="wireGuardListenPort">the node's WireGuard UDP port when peers dial it; null when it only dials out</param>
    public static string RenderNftables(string publicInterface, int? wireGuardListenPort)
    {
        ArgumentException.ThrowIfNullOrEmpty(publicInterface);
        if (publicInterface.Length > 15 || publicInterface.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            throw new ArgumentException($"'{publicInterface}' is not a Linux interface name", nameof(publicInterface));
        }

        if (wireGuardListenPort is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(wireGuardListenPort), wireGuardListenPort, "a UDP port from 1 to 65535");
        }

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"table inet {Table}\n");
        sb.Append(CultureInfo.InvariantCulture, $"delete table inet {Table}\n");
        sb.Append(CultureInfo.InvariantCulture, $"table inet {Table} {{\n");
        sb.Append("  chain input {\n");
        sb.Append("    type filter hook input priority filter; policy accept;\n");
        sb.Append(CultureInfo.InvariantCulture, $"    iifname \"{publicInterface}\" jump public_nic\n");
        sb.Append("  }\n");
        sb.Append("  chain public_nic {\n");
        sb.Append("    ct state established,related accept\n");
        sb.Append("    udp sport 67 udp dport 68 accept\n");
        if (wireGuardListenPort is { } port)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    udp dport {port} accept\n");
        }

        sb.Append("    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } ip6 hoplimit 255 accept\n");
        sb.Append("    meta l4proto tcp counter reject with tcp reset\n");
        sb.Append("    counter reject with icmpx admin-prohibited\n");
        sb.Append("  }\n");
        sb.Append("}\n");
        return sb.ToString();
    }
}
