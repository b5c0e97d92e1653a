namespace Kldload.ImageStore;

/// <summary>
/// Reads of the image catalog's records: what a store answers outside a change and, through
/// <see cref="IImageCatalogChange"/>, inside one.
/// </summary>
public interface IImageCatalogRecords
{
    /// <summary>The manifest of one image version, or null.</summary>
    ImageManifest? GetManifest(ImageKey key);

    /// <summary>Every manifest, by name (ordinal), then creation time, then version (ordinal).</summary>
    IReadOnlyList<ImageManifest> ListManifests();

    /// <summary>One channel, or null.</summary>
    ChannelState? GetChannel(string name);

    /// <summary>Every channel, by name (ordinal).</summary>
    IReadOnlyList<ChannelState> ListChannels();
}

/// <summary>
/// Where the image catalog keeps its records: manifests, channels, and the histories of both. The
/// rules (valid names, immutable versions, what rollback means, what blocks a deletion) are
/// <see cref="ImageCatalog"/>'s; a store keeps records and runs a change as one transaction.
/// <see cref="LiteDbImageCatalogStore"/> keeps them in <c>kldload.db</c>; the host has a PostgreSQL
/// store, shared by several provisioners. Blobs are not here: they stay files in <see cref="BlobStore"/>.
/// </summary>
public interface IImageCatalogStore : IImageCatalogRecords
{
    /// <summary>Moves of one channel, oldest first (empty for an unknown channel).</summary>
    IReadOnlyList<ChannelEvent> GetChannelHistory(string channel);

    /// <summary>Imports and deletions of images, oldest first.</summary>
    IReadOnlyList<ImageEvent> GetImageHistory();

    /// <summary>
    /// Runs <paramref name="change"/> as one transaction: when it returns, every write it made is kept;
    /// when it throws, none is, and the exception reaches the caller unchanged. Changes do not
    /// interleave (also across processes sharing a database): a change that reads a channel and writes
    /// it back cannot lose another change's write in between.
    /// </summary>
    T Change<T>(Func<IImageCatalogChange, T> change);
}

/// <summary>The records as one change sees them, and its writes. Valid only inside <see cref="IImageCatalogStore.Change{T}"/>.</summary>
public interface IImageCatalogChange : IImageCatalogRecords
{
    /// <summary>Adds a manifest; throws <see cref="ImageCatalogException"/> when one with its key exists.</summary>
    void InsertManifest(ImageManifest manifest);

    /// <summary>Removes a manifest; false when there was none.</summary>
    bool DeleteManifest(ImageKey key);

    /// <summary>Creates or replaces a channel (by its name).</summary>
    void PutChannel(ChannelState channel);

    /// <summary>Appends to the channel history.</summary>
    void AppendChannelEvent(ChannelEvent change);

    /// <summary>Appends to the image history.</summary>
    void AppendImageEvent(ImageEvent change);
}
