using Kldload.Provisioner.Hosting.Settings;

namespace Kldload.Provisioner.Listeners;

/// <summary>Wires the DHCP listener (Kldload.Dhcp) into the host unless <c>Dhcp:Mode</c> is Off.</summary>
public static class DhcpListenerHosting
{
    /// <summary>Registers the DHCP listener and its readiness check. The listener lands with the DHCP issue.</summary>
    public static WebApplicationBuilder AddDhcpListener(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(config);
        return builder;
    }
}
