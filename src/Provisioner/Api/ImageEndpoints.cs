using Kldload.ImageStore;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;
using Microsoft.Net.Http.Headers;

namespace Kldload.Provisioner.Api;

/// <summary>
/// Image store services and the image routes. Images are content-addressed public artifacts (they
/// must hold no secrets), so the routes need no authentication:
/// <list type="bullet">
/// <item><c>GET|HEAD /images/{sha256}</c>: a blob by digest (immutable).</item>
/// <item><c>GET|HEAD /images/{name}/{version}/{kernel|initrd|rootfs}</c>: one file of an image version.</item>
/// <item><c>GET|HEAD /images/channels/{channel}/{kernel|initrd|rootfs}</c>: one file of the image a channel points at now.</item>
/// </list>
/// Every response carries <c>ETag</c> = the digest and supports single <c>Range</c> requests (206).
/// A blob is re-hashed before it is first served by this process and again whenever its size or
/// modification time changes; one that does not match its digest is never served. A blob an image
/// needs but this instance lacks is fetched first from another instance sharing the catalogue
/// (<see cref="PeerBlobFetcher"/>, PostgreSQL only).
/// </summary>
public static partial class ImageEndpoints
{
    private const string ImmutableCaching = "public, max-age=31536000, immutable";

    /// <summary>Registers the image store (its catalog in the registered <see cref="IImageCatalogStore"/>) and the blob verifier.</summary>
    public static WebApplicationBuilder AddImageStore(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(config);
        builder.Services.AddSingleton(config.Images);
        builder.Services.AddSingleton(sp => new LiveImageStore(
            config.Images.Root,
            sp.GetRequiredService<IImageCatalogStore>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetServices<IImageReferenceSource>()));
        builder.Services.AddSingleton<ImageBlobVerifier>();
        builder.Services.AddSingleton(InstanceIdentity.OpenOrCreate(config.Kldload.DataDir));
        builder.Services.AddSingleton<PeerBlobFetcher>();
        if (config.Database.Provider == DatabaseProvider.PostgreSql)
        {
            builder.Services.AddSingleton<BlobLocationPublisher>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<BlobLocationPublisher>());
        }

        return builder;
    }

    /// <summary>Maps the image routes.</summary>
    public static WebApplication MapImageEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        string[] methods = [HttpMethods.Get, HttpMethods.Head];
        app.MapMethods("/images/{digest}", methods, ServeDigestAsync).ExcludeFromDescription().AddEndpointFilter<ImageFetchRecorder>();
        app.MapMethods("/images/channels/{channel}/{file}", methods, ServeChannelFileAsync).ExcludeFromDescription().AddEndpointFilter<ImageFetchRecorder>();
        app.MapMethods("/images/{name}/{version}/{file}", methods, ServeImageFileAsync).ExcludeFromDescription().AddEndpointFilter<ImageFetchRecorder>();
        return app;
    }

    private static Task<IResult> ServeDigestAsync(string digest, LiveImageStore store, ImageBlobVerifier verifier, PeerBlobFetcher peers, ILoggerFactory logs, CancellationToken ct)
        => Sha256Digest.TryParse(digest, out var d)
            ? ServeBlobAsync(d.Value, ImmutableCaching, store, verifier, peers, logs, ct)
            : Task.FromResult(NotFound("not an image digest (64 lowercase hex characters)"));

    private static Task<IResult> ServeImageFileAsync(string name, string version, string file, LiveImageStore store, ImageBlobVerifier verifier, PeerBlobFetcher peers, ILoggerFactory logs, CancellationToken ct)
    {
        if (!TryParseKind(file, out var kind) || ImageKey.Validate(name, version) is not null)
        {
            return Task.FromResult(NotFound("unknown image file"));
        }

        var manifest = store.Catalog.Get(new ImageKey(name, version));
        return manifest?.DigestOf(kind) is { } digest
            ? ServeBlobAsync(digest, ImmutableCaching, store, verifier, peers, logs, ct)
            : Task.FromResult(NotFound($"no {file} for image {name}/{version}"));
    }

    private static Task<IResult> ServeChannelFileAsync(string channel, string file, LiveImageStore store, ImageBlobVerifier verifier, PeerBlobFetcher peers, ILoggerFactory logs, CancellationToken ct)
    {
        if (!TryParseKind(file, out var kind) || !ImageKey.IsValidPart(channel))
        {
            return Task.FromResult(NotFound("unknown image file"));
        }

        // The channel may move at any time: caches must revalidate (the ETag makes that cheap).
        return store.Catalog.Resolve(channel)?.DigestOf(kind) is { } digest
            ? ServeBlobAsync(digest, "no-cache", store, verifier, peers, logs, ct)
            : Task.FromResult(NotFound($"no {file} on channel {channel}"));
    }

    private static async Task<IResult> ServeBlobAsync(Sha256Digest digest, string cacheControl, LiveImageStore store, ImageBlobVerifier verifier, PeerBlobFetcher peers, ILoggerFactory logs, CancellationToken ct)
    {
        var path = store.Blobs.PathOf(digest);
        var check = await verifier.CheckAsync(digest, path, ct).ConfigureAwait(false);
        if (check == BlobCheck.Missing && await peers.TryFetchAsync(digest, ct).ConfigureAwait(false))
        {
            // Another instance sharing the catalogue held it: fetched, its digest checked, stored here.
            check = await verifier.CheckAsync(digest, path, ct).ConfigureAwait(false);
        }

        switch (check)
        {
            case BlobCheck.Missing:
                return NotFound($"no blob {digest}");
            case BlobCheck.Corrupt:
                Log.CorruptBlob(logs.CreateLogger("Kldload.Images"), digest.ToString(), path);
                return Results.Problem(title: "blob failed verification", detail: $"blob {digest} does not match its digest; run 'kldload image verify'", statusCode: StatusCodes.Status500InternalServerError);
        }

        // A physical path: Kestrel hands it to IHttpResponseBodyFeature.SendFileAsync (no managed
        // buffering of the content by kldload); Range, If-None-Match and HEAD are handled there.
        return new CachedFileResult(Results.File(path, "application/octet-stream", lastModified: null, entityTag: new EntityTagHeaderValue($"\"{digest}\""), enableRangeProcessing: true), cacheControl);
    }

    private static IResult NotFound(string detail) => Results.Problem(title: "not found", detail: detail, statusCode: StatusCodes.Status404NotFound);

    private static bool TryParseKind(string file, out ImageFileKind kind)
    {
        kind = file switch
        {
            "kernel" => ImageFileKind.Kernel,
            "initrd" => ImageFileKind.Initrd,
            "rootfs" => ImageFileKind.Rootfs,
            _ => 0,
        };
        return kind != 0;
    }

    /// <summary>A file result with a Cache-Control header.</summary>
    private sealed class CachedFileResult(IResult inner, string cacheControl) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.CacheControl = cacheControl;
            return inner.ExecuteAsync(httpContext);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.ImageBlobCorrupt, Level = LogLevel.Error, Message = "blob {Digest} at {Path} does not match its digest: refusing to serve it (run 'kldload image verify')")]
        public static partial void CorruptBlob(ILogger logger, string digest, string path);
    }
}
