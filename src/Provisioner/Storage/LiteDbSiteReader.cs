using System.Globalization;

namespace Kldload.Provisioner.Storage;

/// <summary>
/// What <c>kldload db migrate</c> reads from <c>kldload.db</c> that no store interface enumerates.
/// </summary>
public static class LiteDbSiteReader
{
    /// <summary>
    /// Every mesh setting (<c>mesh_settings</c>: the prefix, the epoch, ...) as the text the PostgreSQL
    /// stores keep: the roster writes its epoch as a number here, and as its decimal text there.
    /// </summary>
    public static IReadOnlyDictionary<string, string> MeshSettings(IKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var doc in database.Database.GetCollection("mesh_settings").FindAll())
        {
            var value = doc["value"];
            settings[doc["_id"].AsString] = value.IsString ? value.AsString : Convert.ToString(value.RawValue, CultureInfo.InvariantCulture) ?? string.Empty;
        }

        return settings;
    }
}
