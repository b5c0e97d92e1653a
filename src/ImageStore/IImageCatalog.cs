namespace Kldload.ImageStore;

/// <summary>
/// Image manifests, channels and their history. <see cref="ImageCatalog"/> keeps them in an
/// <see cref="IImageCatalogStore"/> (LiteDB or PostgreSQL); the CLI uses another implementation that
/// asks a running <c>kldload serve</c> (which then holds the database alone). Failures the operator can fix are <see cref="ImageCatalogException"/>s.
/// </summary>
public interface IImageCatalog
{
    ImageManifest? Get(ImageKey key);

    /// <summary>Every image, by name then creation time.</summary>
    IReadOnlyList<ImageManifest> List();

    ChannelState? GetChannel(string name);

    /// <summary>Every channel, by name.</summary>
    IReadOnlyList<ChannelState> ListChannels();

    /// <summary>The image a channel points at now, or null when the channel does not exist.</summary>
    ImageManifest? Resolve(string channel);

    /// <summary>Moves of one channel, oldest first.</summary>
    IReadOnlyList<ChannelEvent> GetChannelHistory(string channel);

    /// <summary>Adds manifests in one transaction; returns those actually added (see <see cref="ImageCatalog.Add"/>).</summary>
    IReadOnlyList<ImageManifest> Add(IReadOnlyList<ImageManifest> manifests, string by, string source);

    /// <summary>Points a channel at an image version; the old target becomes the rollback target.</summary>
    ChannelEvent Promote(string channel, ImageKey image, string by);

    /// <summary>Points a channel back at the version it had before the last promotion.</summary>
    ChannelEvent Rollback(string channel, string by);

    /// <summary>Removes an image's manifest, refused while a channel or a reference source needs it.</summary>
    void Delete(ImageKey image, string by, IEnumerable<IImageReferenceSource> sources);
}
