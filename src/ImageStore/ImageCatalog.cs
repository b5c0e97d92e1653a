namespace Kldload.ImageStore;

/// <summary>
/// Image manifests, channels and their history: the catalog's rules over an
/// <see cref="IImageCatalogStore"/> (LiteDB in <c>kldload.db</c>, or PostgreSQL shared by several
/// provisioners; the CLI reaches a running server's through its API instead). Every change is one
/// store transaction: a channel move is a single channel update plus its history record.
/// </summary>
public sealed class ImageCatalog : IImageCatalog
{
    private readonly IImageCatalogStore _store;
    private readonly TimeProvider _time;

    public ImageCatalog(IImageCatalogStore store, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        _store = store;
        _time = time;
    }

    public ImageManifest? Get(ImageKey key) => _store.GetManifest(key);

    /// <summary>Every image, by name then creation time.</summary>
    public IReadOnlyList<ImageManifest> List() => _store.ListManifests();

    public ChannelState? GetChannel(string name) => _store.GetChannel(name);

    public IReadOnlyList<ChannelState> ListChannels() => _store.ListChannels();

    /// <summary>The image a channel points at now, or null when the channel does not exist.</summary>
    public ImageManifest? Resolve(string channel) => GetChannel(channel) is { } c ? Get(c.Current) : null;

    /// <summary>Moves of one channel, oldest first.</summary>
    public IReadOnlyList<ChannelEvent> GetChannelHistory(string channel) => _store.GetChannelHistory(channel);

    /// <summary>Imports and deletions, oldest first.</summary>
    public IReadOnlyList<ImageEvent> GetImageHistory() => _store.GetImageHistory();

    /// <summary>
    /// Adds manifests in one transaction. A manifest already present with the same content is
    /// skipped; one present with different content fails the whole call (an image version is
    /// byte-exact forever). Returns the manifests actually added.
    /// </summary>
    public IReadOnlyList<ImageManifest> Add(IReadOnlyList<ImageManifest> manifests, string by, string source)
    {
        ArgumentNullException.ThrowIfNull(manifests);
        return _store.Change(tx =>
        {
            var added = new List<ImageManifest>();
            foreach (var m in manifests)
            {
                if (ImageKey.Validate(m.Name, m.Version) is { } problem)
                {
                    throw new ImageCatalogException(problem);
                }

                if (tx.GetManifest(m.Key) is { } existing)
                {
                    if (!existing.SameContentAs(m))
                    {
                        throw new ImageCatalogException($"image {m.Key} already exists with different content; choose a new version");
                    }

                    continue;
                }

                tx.InsertManifest(m);
                tx.AppendImageEvent(new ImageEvent(m.Key, ImageAction.Imported, by, _time.GetUtcNow(), source));
                added.Add(m);
            }

            return added;
        });
    }

    /// <summary>Points a channel at an image version (creating the channel). The old target becomes the rollback target.</summary>
    public ChannelEvent Promote(string channel, ImageKey image, string by)
    {
        if (!ImageKey.IsValidPart(channel))
        {
            throw new ImageCatalogException($"channel name '{channel}' is not valid (1-64 letters, digits, '-', '_', '.')");
        }

        return _store.Change(tx =>
        {
            if (tx.GetManifest(image) is null)
            {
                throw new ImageCatalogException($"image {image} does not exist");
            }

            var now = _time.GetUtcNow();
            var old = tx.GetChannel(channel);
            if (old is not null && old.Current == image)
            {
                throw new ImageCatalogException($"channel {channel} already points at {image}");
            }

            var previous = old is null ? [] : new[] { old.Current }.Concat(old.Previous).ToList();
            tx.PutChannel(new ChannelState { Name = channel, Current = image, Previous = previous, UpdatedBy = by, UpdatedAt = now });
            var change = new ChannelEvent(channel, ChannelAction.Promote, old?.Current, image, by, now);
            tx.AppendChannelEvent(change);
            return change;
        });
    }

    /// <summary>Points a channel back at the version it pointed at before the last promotion.</summary>
    public ChannelEvent Rollback(string channel, string by)
        => _store.Change(tx =>
        {
            var old = tx.GetChannel(channel) ?? throw new ImageCatalogException($"channel {channel} does not exist");
            if (old.Previous.Count == 0)
            {
                throw new ImageCatalogException($"channel {channel} has no previous version to roll back to (it points at {old.Current})");
            }

            var now = _time.GetUtcNow();
            var target = old.Previous[0];
            tx.PutChannel(old with { Current = target, Previous = old.Previous.Skip(1).ToList(), UpdatedBy = by, UpdatedAt = now });
            var change = new ChannelEvent(channel, ChannelAction.Rollback, old.Current, target, by, now);
            tx.AppendChannelEvent(change);
            return change;
        });

    /// <summary>
    /// Removes an image's manifest (its blobs go at the next garbage collection). Refused while a
    /// channel points at it now or could roll back to it, or a reference source needs it.
    /// </summary>
    public void Delete(ImageKey image, string by, IEnumerable<IImageReferenceSource> sources)
        => _store.Change(tx =>
        {
            if (tx.GetManifest(image) is null)
            {
                throw new ImageCatalogException($"image {image} does not exist");
            }

            foreach (var c in tx.ListChannels())
            {
                if (c.Current == image || c.Previous.Contains(image))
                {
                    throw new ImageCatalogException($"image {image} is still used by channel {c.Name}");
                }
            }

            foreach (var s in sources)
            {
                if (s.GetReferencedImages().Contains(image))
                {
                    throw new ImageCatalogException($"image {image} is still used by {s.Description}");
                }
            }

            tx.DeleteManifest(image);
            tx.AppendImageEvent(new ImageEvent(image, ImageAction.Deleted, by, _time.GetUtcNow(), string.Empty));
            return true;
        });
}

/// <summary>A catalog operation was refused; the message says why in one line.</summary>
public sealed class ImageCatalogException(string message) : Exception(message);
