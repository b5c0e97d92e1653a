using Kldload.Provisioner.Hosting.Settings;

namespace Kldload.Provisioner.Listeners;

/// <summary>Wires the TFTP listener (Kldload.Tftp) into the host when <c>Tftp:Enabled</c>.</summary>
public static class TftpListenerHosting
{
    /// <summary>Registers the TFTP listener and its readiness check. The listener lands with the TFTP issue.</summary>
    public static WebApplicationBuilder AddTftpListener(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(config);
        return builder;
    }
}
