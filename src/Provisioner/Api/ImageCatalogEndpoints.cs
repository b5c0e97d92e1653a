using System.Text.Json;
using System.Text.Json.Nodes;
using Kldload.ImageStore;

namespace Kldload.Provisioner.Api;

/// <summary>
/// The image catalog over the admin API (<c>/api/v1/catalog</c>, bearer token), for
/// <c>kldload image ...</c> while a server runs: the server then holds kldload.db alone (LiteDB
/// direct mode), so the CLI copies blobs into the store itself and asks the server for every read
/// and change of manifests and channels, and for garbage collection and verification (which need
/// the inventory's references). A refused change is 409 with the catalog's message as the detail.
/// </summary>
public static class ImageCatalogEndpoints
{
    public static RouteGroupBuilder MapImageCatalogEndpoints(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        var catalog = api.MapGroup("/catalog");
        catalog.MapGet("/images", (LiveImageStore store) => Json(new JsonObject
        {
            ["images"] = new JsonArray([.. store.Catalog.List().Select(m => (JsonNode)ManifestJson.Write(m))]),
        }));
        catalog.MapGet("/images/{name}/{version}", (string name, string version, LiveImageStore store) =>
            ImageKey.Validate(name, version) is null && store.Catalog.Get(new ImageKey(name, version)) is { } m
                ? Json(ManifestJson.Write(m))
                : NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"image {name}/{version} does not exist"));
        catalog.MapPost("/images", async (HttpRequest request, LiveImageStore store, HttpContext http) =>
        {
            JsonDocument body;
            try
            {
                body = await JsonDocument.ParseAsync(request.Body, cancellationToken: http.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException e)
            {
                return NodeEndpoints.Problem(StatusCodes.Status400BadRequest, "bad request", $"not JSON: {e.Message}");
            }

            using var _ = body;
            if (body.RootElement.ValueKind != JsonValueKind.Object || !body.RootElement.TryGetProperty("manifests", out var list) || list.ValueKind != JsonValueKind.Array)
            {
                return NodeEndpoints.Problem(StatusCodes.Status400BadRequest, "bad request", "expected {\"manifests\": [...], \"source\": \"...\"}");
            }

            var manifests = new List<ImageManifest>();
            foreach (var e in list.EnumerateArray())
            {
                if (ManifestJson.TryRead(e, out var error) is not { } m)
                {
                    return NodeEndpoints.Problem(StatusCodes.Status400BadRequest, "bad request", $"manifest: {error}");
                }

                manifests.Add(m);
            }

            var source = body.RootElement.TryGetProperty("source", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()! : "api";
            return Change(() => Json(new JsonObject
            {
                ["added"] = new JsonArray([.. store.Catalog.Add(manifests, NodeEndpoints.Actor(http), source).Select(m => (JsonNode)ManifestJson.Write(m))]),
            }));
        });
        catalog.MapDelete("/images/{name}/{version}", (string name, string version, LiveImageStore store, HttpContext http) =>
            Change(() =>
            {
                store.Catalog.Delete(new ImageKey(name, version), NodeEndpoints.Actor(http), store.ReferenceSources);
                return Results.NoContent();
            }));
        catalog.MapGet("/channels", (LiveImageStore store) => Json(new JsonObject
        {
            ["channels"] = new JsonArray([.. store.Catalog.ListChannels().Select(c => (JsonNode)CatalogJson.Write(c))]),
        }));
        catalog.MapGet("/channels/{channel}", (string channel, LiveImageStore store) =>
            store.Catalog.GetChannel(channel) is { } c
                ? Json(CatalogJson.Write(c))
                : NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"channel {channel} does not exist"));
        catalog.MapGet("/channels/{channel}/history", (string channel, LiveImageStore store) => Json(new JsonObject
        {
            ["history"] = new JsonArray([.. store.Catalog.GetChannelHistory(channel).Select(e => (JsonNode)CatalogJson.Write(e))]),
        }));
        catalog.MapPost("/channels/{channel}/promote", (string channel, PromoteRequest body, LiveImageStore store, HttpContext http) =>
            Change(() => Json(CatalogJson.Write(store.Catalog.Promote(channel, new ImageKey(body.Name ?? string.Empty, body.Version ?? string.Empty), NodeEndpoints.Actor(http))))));
        catalog.MapPost("/channels/{channel}/rollback", (string channel, LiveImageStore store, HttpContext http) =>
            Change(() => Json(CatalogJson.Write(store.Catalog.Rollback(channel, NodeEndpoints.Actor(http))))));
        catalog.MapPost("/gc", (GarbageRequest body, LiveImageStore store) =>
        {
            var report = store.CollectGarbage(body.DryRun, TimeSpan.FromSeconds(body.MinAgeSeconds));
            return Json(new JsonObject
            {
                ["removed"] = new JsonArray([.. report.Removed.Select(r => (JsonNode)new JsonObject { ["digest"] = r.Digest.ToString(), ["size"] = r.Size })]),
                ["kept"] = report.Kept,
                ["tempFilesRemoved"] = new JsonArray([.. report.TempFilesRemoved.Select(t => (JsonNode)JsonValue.Create(t))]),
            });
        });
        catalog.MapPost("/verify", async (LiveImageStore store, HttpContext http) =>
        {
            var problems = await store.VerifyAsync(cancellationToken: http.RequestAborted).ConfigureAwait(false);
            return Json(new JsonObject
            {
                ["problems"] = new JsonArray([.. problems.Select(p => (JsonNode)new JsonObject
                {
                    ["digest"] = p.Digest.ToString(),
                    ["problem"] = p.Problem,
                    ["images"] = new JsonArray([.. p.Images.Select(i => (JsonNode)JsonValue.Create(i.ToString()))]),
                })]),
                ["blobs"] = store.ReferencedBlobs().Count,
                ["images"] = store.Catalog.List().Count,
            });
        });
        return api;
    }

    private static IResult Json(JsonNode node) => Results.Content(node.ToJsonString(), "application/json");

    private static IResult Change(Func<IResult> change)
    {
        try
        {
            return change();
        }
        catch (ImageCatalogException e)
        {
            return NodeEndpoints.Problem(StatusCodes.Status409Conflict, "image catalog not changed", e.Message);
        }
    }
}

/// <summary>Body of <c>POST /api/v1/catalog/gc</c>: spare unreferenced blobs younger than <see cref="MinAgeSeconds"/>.</summary>
public sealed record GarbageRequest(bool DryRun, double MinAgeSeconds);
