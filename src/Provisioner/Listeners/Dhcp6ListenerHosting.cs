using Kldload.Dhcp.Server;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Settings;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Kldload.Provisioner.Listeners;

/// <summary>Wires the DHCPv6 listener into the host unless <c>Dhcp6:Mode</c> is Off.</summary>
public static class Dhcp6ListenerHosting
{
    /// <summary>
    /// Registers the boot policy (shared with DHCPv4), the DHCPv6 listener as a hosted service, its
    /// readiness check (<c>dhcp6</c>) and its metrics. With <c>Dhcp6:Mode</c> Off nothing is registered: no socket is opened.
    /// </summary>
    public static WebApplicationBuilder AddDhcp6Listener(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(config);
        builder.Services.AddSingleton(config.Dhcp6);
        if (config.Dhcp6.Mode == DhcpMode.Off)
        {
            return builder;
        }

        builder.Services.TryAddSingleton<IDhcpBootPolicy, DhcpBootPolicy>();
        builder.Services.AddSingleton<Dhcp6Listener>();
        builder.Services.AddSingleton<IReadinessCheck>(sp => sp.GetRequiredService<Dhcp6Listener>().Readiness);
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Dhcp6Listener>());
        builder.Services.AddSingleton<IScrapeTimeMetrics, Dhcp6Metrics>();
        return builder;
    }
}
