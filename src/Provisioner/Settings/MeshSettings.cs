using System.Net;
using System.Net.Sockets;

namespace Kldload.Provisioner.Settings;

/// <summary>The <c>Mesh</c> section: the WireGuard mesh and its hub.</summary>
public sealed record MeshSettings
{
    /// <summary>Bring up the hub interface (needs root). Identities are issued either way.</summary>
    public bool Enabled { get; init; }

    public string Interface { get; init; } = "kl0";

    public int ListenPort { get; init; } = 51820;

    /// <summary>host:port nodes dial; null = the host of <c>Kldload:ServerUrl</c> and <see cref="ListenPort"/>.</summary>
    public string? Endpoint { get; init; }

    /// <summary>host:port the other provisioners' hubs dial to peer with this one; null = <see cref="Endpoint"/> as resolved.</summary>
    public string? PeerEndpoint { get; init; }

    /// <summary>Turn on forwarding while the hub is up (IPv4 on the hub interface, IPv6 host-wide), restored at shutdown.</summary>
    public bool Forwarding { get; init; } = true;

    /// <summary>The mesh's ULA /64; null = generated once and kept in the data directory.</summary>
    public IPNetwork? Prefix6 { get; init; }

    /// <summary>Optional IPv4 pool for mesh addresses.</summary>
    public IPNetwork? Cidr4 { get; init; }

    public TimeSpan CertificateLifetime { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How long a released mesh address stays out of use.</summary>
    public TimeSpan AddressQuarantine { get; init; } = TimeSpan.FromDays(30);

    /// <summary>WireGuard PersistentKeepalive in seconds; 0 = off.</summary>
    public int Keepalive { get; init; } = 25;

    /// <summary>The TCP port of each node's metrics exporter, listed by <c>/api/v1/prometheus/targets</c>.</summary>
    public int MetricsPort { get; init; } = 9100;

    /// <summary>
    /// Lock each node's public NIC down to the mesh's needs (the agent's <c>PublicNicFirewall</c>
    /// ruleset, installed with nft by the resident agent when the control channel says so).
    /// </summary>
    public bool LockPublicNic { get; init; } = true;

    /// <summary>
    /// <c>Mesh:CaKeyFile</c>: with <c>Database:Provider=PostgreSql</c>, the key (32 bytes, mode 0600)
    /// that seals the mesh CA's private keys in the database; made by the provisioner that creates the
    /// CA, copied to every other. Default <c>{DataDir}/meshca/ca.key</c>. Unused with LiteDB (the CA is
    /// files in the data directory).
    /// </summary>
    public string CaKeyFile { get; init; } = "";

    /// <summary>Which nodes peer directly (every node always peers with the hub).</summary>
    public MeshTopologyMode Topology { get; init; } = MeshTopologyMode.HubAndSpoke;

    /// <summary>Under <see cref="MeshTopologyMode.Groups"/>: the label names whose equal values make nodes direct peers.</summary>
    public IReadOnlyList<string> Groups { get; init; } = [];

    internal static MeshSettings Read(SettingsReader r, KldloadSettings kldload)
    {
        var caKeyFile = Path.GetFullPath(r.OptionalString("Mesh:CaKeyFile") is { Length: > 0 } k ? k : Path.Combine(kldload.DataDir, "meshca", "ca.key"));
        if (Directory.Exists(caKeyFile))
        {
            r.AddError("Mesh:CaKeyFile", caKeyFile, "is a directory; allowed: the path of the CA key file (32 bytes, mode 0600)");
        }

        var iface = r.String("Mesh:Interface", "kl0");
        if (iface.Length is 0 or > 15 || iface.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            r.AddError("Mesh:Interface", iface, "allowed: a Linux interface name of 1 to 15 letters, digits, '-', '_' or '.'");
        }

        var endpoint = r.OptionalString("Mesh:Endpoint");
        if (endpoint is not null && !IsHostPort(endpoint))
        {
            r.AddError("Mesh:Endpoint", endpoint, "allowed: HOST:PORT that nodes dial, for example 10.0.0.1:51820");
        }

        var peerEndpoint = r.OptionalString("Mesh:PeerEndpoint");
        if (peerEndpoint is not null && !IsHostPort(peerEndpoint))
        {
            r.AddError("Mesh:PeerEndpoint", peerEndpoint, "allowed: HOST:PORT that the other provisioners' hubs dial, for example 192.0.2.10:51820");
        }

        var prefix6 = r.OptionalNetwork("Mesh:Prefix6", AddressFamily.InterNetworkV6);
        if (prefix6 is { } p && (p.PrefixLength != 64 || p.BaseAddress.GetAddressBytes()[0] != 0xFD))
        {
            r.AddError("Mesh:Prefix6", p.ToString(), "allowed: a unique local (fd00::/8) /64 prefix, for example fd12:3456:789a:1::/64");
        }

        var cidr4 = r.OptionalNetwork("Mesh:Cidr4", AddressFamily.InterNetwork);
        if (cidr4 is { } c && c.PrefixLength is < 8 or > 30)
        {
            r.AddError("Mesh:Cidr4", c.ToString(), "allowed: an IPv4 prefix of length 8 to 30, for example 100.64.0.0/16");
        }

        var topology = r.Enum("Mesh:Topology", MeshTopologyMode.HubAndSpoke);
        var groups = r.StringList("Mesh:Groups");
        foreach (var g in groups.Where(g => !IsLabelName(g)))
        {
            r.AddError("Mesh:Groups", g, "allowed: label names of 1 to 63 letters, digits, '-', '_', '.' or '/'");
        }

        if (groups.Distinct(StringComparer.Ordinal).Count() != groups.Count)
        {
            r.AddError("Mesh:Groups", string.Join(",", groups), "a label name is listed twice");
        }

        if (topology == MeshTopologyMode.Groups && groups.Count == 0)
        {
            r.AddError("Mesh:Groups", null, "Mesh:Topology is Groups: name at least one node label whose equal values make nodes direct peers, for example rack");
        }
        else if (topology != MeshTopologyMode.Groups && groups.Count > 0)
        {
            r.AddError("Mesh:Groups", string.Join(",", groups), $"only used with Mesh:Topology=Groups (it is {topology})");
        }

        return new MeshSettings
        {
            Topology = topology,
            Groups = groups,
            Enabled = r.Bool("Mesh:Enabled", false),
            Interface = iface,
            ListenPort = r.Int("Mesh:ListenPort", 51820, 1, 65535),
            Endpoint = endpoint,
            PeerEndpoint = peerEndpoint,
            Forwarding = r.Bool("Mesh:Forwarding", true),
            Prefix6 = prefix6,
            Cidr4 = cidr4,
            CertificateLifetime = r.Duration("Mesh:CertificateLifetime", TimeSpan.FromDays(7), TimeSpan.FromMinutes(10), TimeSpan.FromDays(398)),
            AddressQuarantine = r.Duration("Mesh:AddressQuarantine", TimeSpan.FromDays(30), TimeSpan.Zero, TimeSpan.FromDays(3650)),
            Keepalive = r.Int("Mesh:Keepalive", 25, 0, 65535),
            MetricsPort = r.Int("Mesh:MetricsPort", 9100, 1, 65535),
            LockPublicNic = r.Bool("Mesh:LockPublicNic", true),
            CaKeyFile = caKeyFile,
        };
    }

    private static bool IsLabelName(string text) =>
        text.Length is > 0 and <= 63 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/');

    private static bool IsHostPort(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
        {
            return false;
        }

        var host = text[..colon].Trim('[', ']');
        return Uri.CheckHostName(host) != UriHostNameType.Unknown;
    }
}

/// <summary><c>Mesh:Topology</c>: which nodes peer with each other directly.</summary>
public enum MeshTopologyMode
{
    /// <summary>Nodes peer only with the hub, which routes between them.</summary>
    HubAndSpoke,

    /// <summary>Every node also peers directly with every other node.</summary>
    FullMesh,

    /// <summary>Nodes also peer directly with nodes sharing a value of a label named in <c>Mesh:Groups</c>.</summary>
    Groups,
}
