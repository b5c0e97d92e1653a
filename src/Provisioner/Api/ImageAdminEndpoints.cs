using Kldload.ImageStore;

namespace Kldload.Provisioner.Api;

/// <summary>Body of <c>POST /api/v1/channels/{channel}/promote</c>.</summary>
public sealed record PromoteRequest(string? Name, string? Version);

/// <summary>Images and channels in the admin API (<c>/api/v1</c>, bearer token). Import and export stay in the CLI.</summary>
public static class ImageAdminEndpoints
{
    public static RouteGroupBuilder MapImageAdminEndpoints(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/images", (LiveImageStore store) => store.Catalog.List().Select(View).ToList());
        api.MapGet("/images/{name}/{version}", (string name, string version, LiveImageStore store) =>
            ImageKey.Validate(name, version) is null && store.Catalog.Get(new ImageKey(name, version)) is { } m
                ? Results.Ok(View(m))
                : NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"no image {name} {version}"));
        api.MapGet("/channels", (LiveImageStore store) => store.Catalog.ListChannels().Select(ChannelView).ToList());
        api.MapGet("/channels/{channel}", (string channel, LiveImageStore store) =>
            ImageKey.IsValidPart(channel) && store.Catalog.GetChannel(channel) is { } c
                ? Results.Ok(new
                {
                    channel = ChannelView(c),
                    history = store.Catalog.GetChannelHistory(channel).Select(e => new
                    {
                        action = e.Action.ToString(),
                        from = e.From?.ToString(),
                        to = e.To.ToString(),
                        by = e.By,
                        at = e.At,
                    }),
                })
                : NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"no channel {channel}"));
        api.MapPost("/channels/{channel}/promote", (string channel, PromoteRequest body, LiveImageStore store, HttpContext http) =>
            Change(() => store.Catalog.Promote(channel, new ImageKey(body.Name ?? string.Empty, body.Version ?? string.Empty), NodeEndpoints.Actor(http))));
        api.MapPost("/channels/{channel}/rollback", (string channel, LiveImageStore store, HttpContext http) =>
            Change(() => store.Catalog.Rollback(channel, NodeEndpoints.Actor(http))));
        return api;
    }

    private static IResult Change(Func<ChannelEvent> change)
    {
        try
        {
            var e = change();
            return Results.Ok(new { channel = e.Channel, action = e.Action.ToString(), from = e.From?.ToString(), to = e.To.ToString(), by = e.By, at = e.At });
        }
        catch (ImageCatalogException e)
        {
            return NodeEndpoints.Problem(StatusCodes.Status409Conflict, "channel not changed", e.Message);
        }
    }

    private static object View(ImageManifest m) => new
    {
        name = m.Name,
        version = m.Version,
        architecture = m.Architecture,
        kernel = m.Kernel.ToString(),
        initrd = m.Initrd.ToString(),
        rootfs = m.Rootfs?.ToString(),
        commandLine = m.CommandLine,
        kernelAuthenticode = m.KernelAuthenticode?.ToString(),
        created = m.Created,
        notes = m.Notes,
    };

    private static object ChannelView(ChannelState c) => new
    {
        name = c.Name,
        current = c.Current.ToString(),
        previous = c.Previous.Select(p => p.ToString()),
        updatedBy = c.UpdatedBy,
        updatedAt = c.UpdatedAt,
    };
}
