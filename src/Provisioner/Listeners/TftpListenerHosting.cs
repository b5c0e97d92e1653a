using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Settings;
using Kldload.Tftp.Files;
using Kldload.Tftp.Transfer;

namespace Kldload.Provisioner.Listeners;

/// <summary>Wires the TFTP listener (Kldload.Tftp) into the host when <c>Tftp:Enabled</c>.</summary>
public static class TftpListenerHosting
{
    /// <summary>
    /// Registers the TFTP listener, its readiness check (<c>tftp</c>), its metrics and log lines, and
    /// the file sources: <see cref="GeneratedFileSource"/> (a singleton other components map generated
    /// files into, an iPXE script say) first; then Debian's signed <c>shimx64.efi</c> and
    /// <c>grubx64.efi</c> (<c>Boot:Grub:*</c>); then GRUB's configurations and image files
    /// (<see cref="GrubTftpFiles"/>); then the boot loaders under <c>Tftp:Root</c>.
    /// </summary>
    public static WebApplicationBuilder AddTftpListener(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(config);
        var settings = config.Tftp;
        if (!settings.Enabled)
        {
            return builder;
        }

        var readiness = new ListenerReadiness("tftp");
        builder.Services.AddSingleton(readiness);
        builder.Services.AddSingleton<IReadinessCheck>(readiness);
        builder.Services.AddSingleton<GeneratedFileSource>();
        builder.Services.AddSingleton<GrubTftpFiles>();
        builder.Services.AddSingleton<ITftpFileSource>(sp =>
        {
            // The signed loader path (Boot:Loader=grub): GRUB's first configuration, generated, and
            // Debian's signed shim and GRUB under the names shim expects, from their packages' paths.
            var generated = sp.GetRequiredService<GeneratedFileSource>();
            var grub = sp.GetRequiredService<GrubTftpFiles>();
            var signed = new MappedFileSource()
                .Map(DhcpBootPolicy.ShimX64, config.Boot.Grub.ShimX64)
                .Map(DhcpBootPolicy.GrubX64, config.Boot.Grub.GrubX64);
            return settings.RootMissing
                ? new CompositeFileSource(generated, signed, grub)
                : new CompositeFileSource(generated, signed, grub, new RootDirectoryFileSource(settings.Root));
        });
        builder.Services.AddSingleton(sp => new BootLoaderFiles(sp.GetRequiredService<ITftpFileSource>()));
        builder.Services.AddSingleton(new TftpServerOptions
        {
            MaxSessions = settings.MaxSessions,
            Timeout = settings.Timeout,
            Retries = settings.Retries,
            MaxBlockSize = settings.MaxBlockSize,
            MaxWindowSize = settings.MaxWindowSize,
        });
        builder.Services.AddSingleton<TftpMetricsObserver>();
        builder.Services.AddHostedService<TftpListenerService>();
        return builder;
    }
}
