namespace Kldload.Dhcp.Server;

/// <summary>How the engine takes part in DHCP (the host's <c>Dhcp:Mode</c>, minus Off).</summary>
public enum DhcpServerMode : byte
{
    /// <summary>The engine owns the pools and answers every client.</summary>
    Full = 1,

    /// <summary>proxyDHCP (PXE 2.1 section 2.2.4): boot options for PXE clients only, no addresses.</summary>
    Proxy = 2,
}
