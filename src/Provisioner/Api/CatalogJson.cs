using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kldload.ImageStore;

namespace Kldload.Provisioner.Api;

/// <summary>
/// JSON forms of channels and channel moves in the image catalog API (<c>/api/v1/catalog</c>),
/// written by the server and read back by the CLI. Manifests use <see cref="ManifestJson"/>; an image
/// key is <c>"NAME/VERSION"</c> (neither part may hold a '/').
/// </summary>
internal static class CatalogJson
{
    public static JsonObject Write(ChannelState c) => new()
    {
        ["name"] = c.Name,
        ["current"] = c.Current.ToString(),
        ["previous"] = new JsonArray(c.Previous.Select(p => (JsonNode)JsonValue.Create(p.ToString())).ToArray()),
        ["updatedBy"] = c.UpdatedBy,
        ["updatedAt"] = c.UpdatedAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture),
    };

    public static JsonObject Write(ChannelEvent e) => new()
    {
        ["channel"] = e.Channel,
        ["action"] = e.Action.ToString(),
        ["from"] = e.From?.ToString(),
        ["to"] = e.To.ToString(),
        ["by"] = e.By,
        ["at"] = e.At.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture),
    };

    public static ChannelState ReadChannel(JsonElement e) => new()
    {
        Name = e.GetProperty("name").GetString()!,
        Current = ReadKey(e.GetProperty("current")),
        Previous = [.. e.GetProperty("previous").EnumerateArray().Select(ReadKey)],
        UpdatedBy = e.GetProperty("updatedBy").GetString()!,
        UpdatedAt = ReadTime(e.GetProperty("updatedAt")),
    };

    public static ChannelEvent ReadEvent(JsonElement e) => new(
        e.GetProperty("channel").GetString()!,
        Enum.Parse<ChannelAction>(e.GetProperty("action").GetString()!),
        e.GetProperty("from").ValueKind == JsonValueKind.Null ? null : ReadKey(e.GetProperty("from")),
        ReadKey(e.GetProperty("to")),
        e.GetProperty("by").GetString()!,
        ReadTime(e.GetProperty("at")));

    public static ImageManifest ReadManifest(JsonElement e) =>
        ManifestJson.TryRead(e, out var error) ?? throw new JsonException($"the server sent a manifest that does not read back: {error}");

    private static ImageKey ReadKey(JsonElement e) =>
        e.GetString()!.Split('/') is [var name, var version] ? new ImageKey(name, version) : throw new JsonException($"not an image key: {e.GetString()}");

    private static DateTimeOffset ReadTime(JsonElement e) => DateTimeOffset.Parse(e.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}
