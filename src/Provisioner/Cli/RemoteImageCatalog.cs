using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kldload.ImageStore;
using Kldload.Provisioner.Api;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// The image catalog of a running <c>kldload serve</c>, through its admin API
/// (<see cref="ImageCatalogEndpoints"/>): what <c>kldload image ...</c> uses while a server holds the
/// data directory. Calls are synchronous (the catalog interface is); a refusal (404 or 409) is an
/// <see cref="ImageCatalogException"/> with the server's message, anything else an
/// <see cref="AdminApiException"/>. Changes are recorded by the server under the name of the token
/// the CLI presents, and it applies its own inventory references to deletions.
/// </summary>
internal sealed class RemoteImageCatalog : IImageCatalog, IDisposable
{
    private readonly HttpClient _http;
    private readonly KnownServers _pins;

    public RemoteImageCatalog(Uri server, string token, KnownServers pins)
    {
        // Garbage collection and verification re-hash blobs on the server: no client-side limit.
        _pins = pins;
        _http = AdminClient.CreateHttp(server, token, pins, Timeout.InfiniteTimeSpan);
    }

    public Uri Server => _http.BaseAddress!;

    public ImageManifest? Get(ImageKey key) =>
        Send(HttpMethod.Get, $"api/v1/catalog/images/{Escape(key.Name)}/{Escape(key.Version)}", null, missingIsNull: true) is { } e ? CatalogJson.ReadManifest(e) : null;

    public IReadOnlyList<ImageManifest> List() =>
        [.. Send(HttpMethod.Get, "api/v1/catalog/images", null)!.Value.GetProperty("images").EnumerateArray().Select(CatalogJson.ReadManifest)];

    public ChannelState? GetChannel(string name) =>
        Send(HttpMethod.Get, $"api/v1/catalog/channels/{Escape(name)}", null, missingIsNull: true) is { } e ? CatalogJson.ReadChannel(e) : null;

    public IReadOnlyList<ChannelState> ListChannels() =>
        [.. Send(HttpMethod.Get, "api/v1/catalog/channels", null)!.Value.GetProperty("channels").EnumerateArray().Select(CatalogJson.ReadChannel)];

    public ImageManifest? Resolve(string channel) => GetChannel(channel) is { } c ? Get(c.Current) : null;

    public IReadOnlyList<ChannelEvent> GetChannelHistory(string channel) =>
        [.. Send(HttpMethod.Get, $"api/v1/catalog/channels/{Escape(channel)}/history", null)!.Value.GetProperty("history").EnumerateArray().Select(CatalogJson.ReadEvent)];

    public IReadOnlyList<ImageManifest> Add(IReadOnlyList<ImageManifest> manifests, string by, string source)
    {
        ArgumentNullException.ThrowIfNull(manifests);
        var body = new JsonObject
        {
            ["manifests"] = new JsonArray([.. manifests.Select(m => (JsonNode)ManifestJson.Write(m))]),
            ["source"] = source,
        };
        return [.. Send(HttpMethod.Post, "api/v1/catalog/images", body)!.Value.GetProperty("added").EnumerateArray().Select(CatalogJson.ReadManifest)];
    }

    public ChannelEvent Promote(string channel, ImageKey image, string by)
    {
        ArgumentNullException.ThrowIfNull(image);
        var body = new JsonObject { ["name"] = image.Name, ["version"] = image.Version };
        return CatalogJson.ReadEvent(Send(HttpMethod.Post, $"api/v1/catalog/channels/{Escape(channel)}/promote", body)!.Value);
    }

    public ChannelEvent Rollback(string channel, string by) =>
        CatalogJson.ReadEvent(Send(HttpMethod.Post, $"api/v1/catalog/channels/{Escape(channel)}/rollback", new JsonObject())!.Value);

    /// <summary>Deletes on the server, which checks its own reference sources (<paramref name="sources"/> is not used).</summary>
    public void Delete(ImageKey image, string by, IEnumerable<IImageReferenceSource> sources)
    {
        ArgumentNullException.ThrowIfNull(image);
        Send(HttpMethod.Delete, $"api/v1/catalog/images/{Escape(image.Name)}/{Escape(image.Version)}", null);
    }

    /// <summary><see cref="LiveImageStore.CollectGarbage"/> run by the server (it knows the inventory's references).</summary>
    public GarbageReport CollectGarbage(bool dryRun, TimeSpan minimumAge)
    {
        var body = new JsonObject { ["dryRun"] = dryRun, ["minAgeSeconds"] = minimumAge.TotalSeconds };
        var e = Send(HttpMethod.Post, "api/v1/catalog/gc", body)!.Value;
        return new GarbageReport(
            [.. e.GetProperty("removed").EnumerateArray().Select(r => (Digest(r.GetProperty("digest")), r.GetProperty("size").GetInt64()))],
            e.GetProperty("kept").GetInt32(),
            [.. e.GetProperty("tempFilesRemoved").EnumerateArray().Select(t => t.GetString()!)]);
    }

    /// <summary><see cref="LiveImageStore.VerifyAsync"/> run by the server; also how many blobs and images it checked.</summary>
    public (IReadOnlyList<BlobProblem> Problems, int Blobs, int Images) Verify()
    {
        var e = Send(HttpMethod.Post, "api/v1/catalog/verify", new JsonObject())!.Value;
        var problems = e.GetProperty("problems").EnumerateArray().Select(p => new BlobProblem(
            Digest(p.GetProperty("digest")),
            p.GetProperty("problem").GetString()!,
            [.. p.GetProperty("images").EnumerateArray().Select(i => i.GetString()!.Split('/') is [var n, var v] ? new ImageKey(n, v) : throw new JsonException("not an image key"))])).ToList();
        return (problems, e.GetProperty("blobs").GetInt32(), e.GetProperty("images").GetInt32());
    }

    public void Dispose() => _http.Dispose();

    private static string Escape(string part) => Uri.EscapeDataString(part);

    private static Sha256Digest Digest(JsonElement e) =>
        Sha256Digest.TryParse(e.GetString(), out var d) ? d.GetValueOrDefault() : throw new JsonException($"not a SHA-256 digest: {e.GetString()}");

    private JsonElement? Send(HttpMethod method, string path, JsonNode? body, bool missingIsNull = false)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        HttpResponseMessage response;
        try
        {
            response = _http.Send(request);
        }
        catch (HttpRequestException e)
        {
            throw new AdminApiException(0, _pins.RefusalFor(_http.BaseAddress!) ?? $"kldload serve holds this data directory but its admin API at {_http.BaseAddress} did not answer: {e.Message}");
        }

        using (response)
        {
            using var reader = new StreamReader(response.Content.ReadAsStream(), Encoding.UTF8);
            var text = reader.ReadToEnd();
            if (response.StatusCode == HttpStatusCode.NotFound && missingIsNull)
            {
                return null;
            }

            if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Conflict)
            {
                throw new ImageCatalogException(Detail(text));
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new AdminApiException((int)response.StatusCode, string.Create(CultureInfo.InvariantCulture, $"kldload serve at {_http.BaseAddress} answered {(int)response.StatusCode} {response.ReasonPhrase}: {Detail(text)}"));
            }

            if (text.Length == 0)
            {
                return null;
            }

            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.Clone();
        }
    }

    private static string Detail(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("detail", out var d) ? d.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body;
        }
    }
}
