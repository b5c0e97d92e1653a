using Kldload.Provisioner.Hosting.Settings;

namespace Kldload.Provisioner.Api;

/// <summary>Image store services and the image routes (<c>/images/{digest}</c>, admin image API).</summary>
public static class ImageEndpoints
{
    /// <summary>Registers the image store. Lands with the image store issue.</summary>
    public static WebApplicationBuilder AddImageStore(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(config);
        return builder;
    }

    /// <summary>Maps the image routes. Lands with the image store issue.</summary>
    public static WebApplication MapImageEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app;
    }
}
