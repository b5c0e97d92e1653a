using Kldload.Dhcp.RouterDiscovery;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Listeners;

/// <summary>Wires the DHCP listener (Kldload.Dhcp) into the host unless <c>Dhcp:Mode</c> is Off.</summary>
public static class DhcpListenerHosting
{
    /// <summary>
    /// Registers the boot policy, the DHCP listener as a hosted service, its readiness check
    /// (<c>dhcp</c>) and its metrics, and the router advertisement listener on the same interface unless
    /// <c>Dhcp:RouterAdvertisements</c> is Off. With <c>Dhcp:Mode</c> Off nothing is registered: no socket is opened.
    /// </summary>
    public static WebApplicationBuilder AddDhcpListener(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(config);
        if (config.Dhcp.Mode == DhcpMode.Off)
        {
            return builder;
        }

        builder.Services.AddSingleton<IDhcpBootPolicy, DhcpBootPolicy>();
        builder.Services.AddSingleton<DhcpListener>();
        builder.Services.AddSingleton<IReadinessCheck>(sp => sp.GetRequiredService<DhcpListener>().Readiness);
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DhcpListener>());
        builder.Services.AddSingleton<IScrapeTimeMetrics, DhcpMetrics>();
        if (config.Dhcp.Mode == DhcpMode.Full)
        {
            builder.Services.AddHostedService<DhcpPoolMonitor>();
        }
        if (config.Dhcp.RouterAdvertisements != RouterAdvertisementMode.Off)
        {
            builder.Services.AddSingleton<RouterAdvertisementListener>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<RouterAdvertisementListener>());
            builder.Services.AddSingleton<IScrapeTimeMetrics, RouterAdvertisementMetrics>();
        }

        return builder;
    }
}
