using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kldload.Provisioner.Kit;

/// <summary>
/// The last kit imported into a data directory, kept in <c>{DataDir}/kit.json</c>: what a later
/// import compares against to refuse a downgrade.
/// </summary>
public sealed record KitInstalledRecord(KitVersion Version, string KitId, string SignerId, DateTimeOffset ImportedAt)
{
    public static string PathIn(string dataDir) => Path.Combine(dataDir, KitFormat.InstalledRecordFile);

    /// <summary>The record in <paramref name="dataDir"/>, or null when no kit was imported there. Throws <see cref="KitException"/> when it is unreadable.</summary>
    public static KitInstalledRecord? Read(string dataDir)
    {
        var path = PathIn(dataDir);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var o = JsonNode.Parse(File.ReadAllBytes(path)) as JsonObject;
            var version = o?["kldloadVersion"]?.GetValue<string>();
            var created = o?["created"]?.GetValue<string>();
            if (version is null || !DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var c))
            {
                throw new KitException($"{path}: not a kit record (kldloadVersion and created are required); move it away to import anyway");
            }

            _ = DateTimeOffset.TryParse(o?["importedAt"]?.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var importedAt);
            return new KitInstalledRecord(new KitVersion(version, c), o?["kitId"]?.GetValue<string>() ?? string.Empty, o?["signer"]?.GetValue<string>() ?? string.Empty, importedAt);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new KitException($"{path}: not a kit record ({e.Message}); move it away to import anyway", e);
        }
    }

    /// <summary>Writes the record atomically (temporary file, then rename).</summary>
    public void Write(string dataDir)
    {
        var path = PathIn(dataDir);
        var json = new JsonObject
        {
            ["kldloadVersion"] = Version.KldloadVersion,
            ["created"] = Version.Created.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["kitId"] = KitId,
            ["signer"] = SignerId,
            ["importedAt"] = ImportedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
        };
        var temp = path + $".partial-{Environment.ProcessId}";
        File.WriteAllText(temp, json.ToJsonString(KitFormat.Indented));
        File.Move(temp, path, overwrite: true);
    }
}
