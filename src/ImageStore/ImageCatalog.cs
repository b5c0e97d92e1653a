using LiteDB;

namespace Kldload.ImageStore;

/// <summary>
/// Image manifests, channels and their history in LiteDB. The database is the caller's (the host's
/// <c>kldload.db</c>; the CLI reaches a running server's through its API instead). Every
/// change is one transaction: a channel move is a single document update plus its history record.
/// Documents are mapped by hand (no reflection), so the library stays trimming-safe.
/// </summary>
public sealed class ImageCatalog : IImageCatalog
{
    private const string ManifestsName = "image_manifests";
    private const string ChannelsName = "image_channels";
    private const string ChannelHistoryName = "image_channel_history";
    private const string ImageHistoryName = "image_history";

    private readonly ILiteDatabase _db;
    private readonly TimeProvider _time;

    public ImageCatalog(ILiteDatabase db, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(db);
        _db = db;
        _time = time;
        _db.GetCollection(ChannelHistoryName).EnsureIndex("channel");
        _db.GetCollection(ImageHistoryName).EnsureIndex("image");
    }

    private ILiteCollection<BsonDocument> Manifests => _db.GetCollection(ManifestsName);

    private ILiteCollection<BsonDocument> Channels => _db.GetCollection(ChannelsName);

    private ILiteCollection<BsonDocument> ChannelHistory => _db.GetCollection(ChannelHistoryName, BsonAutoId.Int64);

    private ILiteCollection<BsonDocument> ImageHistory => _db.GetCollection(ImageHistoryName, BsonAutoId.Int64);

    public ImageManifest? Get(ImageKey key) => Manifests.FindById(key.ToString()) is { } d ? ReadManifest(d) : null;

    /// <summary>Every image, by name then version.</summary>
    public IReadOnlyList<ImageManifest> List()
        => Manifests.FindAll().Select(ReadManifest).OrderBy(m => m.Name, StringComparer.Ordinal).ThenBy(m => m.Created).ToList();

    public ChannelState? GetChannel(string name) => Channels.FindById(name) is { } d ? ReadChannel(d) : null;

    public IReadOnlyList<ChannelState> ListChannels()
        => Channels.FindAll().Select(ReadChannel).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();

    /// <summary>The image a channel points at now, or null when the channel does not exist.</summary>
    public ImageManifest? Resolve(string channel) => GetChannel(channel) is { } c ? Get(c.Current) : null;

    /// <summary>Moves of one channel, oldest first.</summary>
    public IReadOnlyList<ChannelEvent> GetChannelHistory(string channel)
        => ChannelHistory.Find(Query.EQ("channel", channel)).OrderBy(d => d["_id"].AsInt64).Select(ReadChannelEvent).ToList();

    /// <summary>Imports and deletions, oldest first.</summary>
    public IReadOnlyList<ImageEvent> GetImageHistory()
        => ImageHistory.FindAll().OrderBy(d => d["_id"].AsInt64).Select(ReadImageEvent).ToList();

    /// <summary>
    /// Adds manifests in one transaction. A manifest already present with the same content is
    /// skipped; one present with different content fails the whole call (an image version is
    /// byte-exact forever). Returns the manifests actually added.
    /// </summary>
    public IReadOnlyList<ImageManifest> Add(IReadOnlyList<ImageManifest> manifests, string by, string source)
    {
        ArgumentNullException.ThrowIfNull(manifests);
        var added = new List<ImageManifest>();
        RunInTransaction(() =>
        {
            foreach (var m in manifests)
            {
                if (ImageKey.Validate(m.Name, m.Version) is { } problem)
                {
                    throw new ImageCatalogException(problem);
                }

                if (Get(m.Key) is { } existing)
                {
                    if (!existing.SameContentAs(m))
                    {
                        throw new ImageCatalogException($"image {m.Key} already exists with different content; choose a new version");
                    }

                    continue;
                }

                Manifests.Insert(WriteManifest(m));
                ImageHistory.Insert(WriteImageEvent(new ImageEvent(m.Key, ImageAction.Imported, by, _time.GetUtcNow(), source)));
                added.Add(m);
            }
        });
        return added;
    }

    /// <summary>Points a channel at an image version (creating the channel). The old target becomes the rollback target.</summary>
    public ChannelEvent Promote(string channel, ImageKey image, string by)
    {
        if (!ImageKey.IsValidPart(channel))
        {
            throw new ImageCatalogException($"channel name '{channel}' is not valid (1-64 letters, digits, '-', '_', '.')");
        }

        ChannelEvent? change = null;
        RunInTransaction(() =>
        {
            if (Get(image) is null)
            {
                throw new ImageCatalogException($"image {image} does not exist");
            }

            var now = _time.GetUtcNow();
            var old = GetChannel(channel);
            if (old is not null && old.Current == image)
            {
                throw new ImageCatalogException($"channel {channel} already points at {image}");
            }

            var previous = old is null ? [] : new[] { old.Current }.Concat(old.Previous).ToList();
            Channels.Upsert(WriteChannel(new ChannelState { Name = channel, Current = image, Previous = previous, UpdatedBy = by, UpdatedAt = now }));
            change = new ChannelEvent(channel, ChannelAction.Promote, old?.Current, image, by, now);
            ChannelHistory.Insert(WriteChannelEvent(change));
        });
        return change!;
    }

    /// <summary>Points a channel back at the version it pointed at before the last promotion.</summary>
    public ChannelEvent Rollback(string channel, string by)
    {
        ChannelEvent? change = null;
        RunInTransaction(() =>
        {
            var old = GetChannel(channel) ?? throw new ImageCatalogException($"channel {channel} does not exist");
            if (old.Previous.Count == 0)
            {
                throw new ImageCatalogException($"channel {channel} has no previous version to roll back to (it points at {old.Current})");
            }

            var now = _time.GetUtcNow();
            var target = old.Previous[0];
            Channels.Upsert(WriteChannel(old with { Current = target, Previous = old.Previous.Skip(1).ToList(), UpdatedBy = by, UpdatedAt = now }));
            change = new ChannelEvent(channel, ChannelAction.Rollback, old.Current, target, by, now);
            ChannelHistory.Insert(WriteChannelEvent(change));
        });
        return change!;
    }

    /// <summary>
    /// Removes an image's manifest (its blobs go at the next garbage collection). Refused while a
    /// channel points at it now or could roll back to it, or a reference source needs it.
    /// </summary>
    public void Delete(ImageKey image, string by, IEnumerable<IImageReferenceSource> sources)
    {
        RunInTransaction(() =>
        {
            if (Get(image) is null)
            {
                throw new ImageCatalogException($"image {image} does not exist");
            }

            foreach (var c in ListChannels())
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

            Manifests.Delete(image.ToString());
            ImageHistory.Insert(WriteImageEvent(new ImageEvent(image, ImageAction.Deleted, by, _time.GetUtcNow(), string.Empty)));
        });
    }

    private void RunInTransaction(Action work)
    {
        var own = _db.BeginTrans();
        try
        {
            work();
            if (own)
            {
                _db.Commit();
            }
        }
        catch
        {
            if (own)
            {
                _db.Rollback();
            }

            throw;
        }
    }

    internal static BsonDocument WriteManifest(ImageManifest m)
    {
        var d = new BsonDocument
        {
            ["_id"] = m.Key.ToString(),
            ["name"] = m.Name,
            ["version"] = m.Version,
            ["arch"] = m.Architecture,
            ["kernel"] = m.Kernel.ToString(),
            ["kernelSize"] = m.KernelSize,
            ["initrd"] = m.Initrd.ToString(),
            ["initrdSize"] = m.InitrdSize,
            ["cmdline"] = m.CommandLine,
            ["created"] = m.Created.UtcDateTime,
            ["notes"] = m.Notes,
        };
        if (m.Rootfs is { } r)
        {
            d["rootfs"] = r.ToString();
            d["rootfsSize"] = m.RootfsSize ?? 0;
        }

        if (m.KernelAuthenticode is { } a)
        {
            d["kernelAuthenticode"] = a.ToString();
        }

        return d;
    }

    internal static ImageManifest ReadManifest(BsonDocument d) => new()
    {
        Name = d["name"].AsString,
        Version = d["version"].AsString,
        Architecture = d["arch"].AsString,
        Kernel = Digest(d["kernel"]),
        KernelSize = d["kernelSize"].AsInt64,
        Initrd = Digest(d["initrd"]),
        InitrdSize = d["initrdSize"].AsInt64,
        Rootfs = d.TryGetValue("rootfs", out var r) && r.IsString ? Digest(r) : null,
        RootfsSize = d.TryGetValue("rootfsSize", out var rs) && rs.IsNumber ? rs.AsInt64 : null,
        CommandLine = d["cmdline"].AsString,
        Created = Utc(d["created"]),
        Notes = d["notes"].AsString,
        KernelAuthenticode = d.TryGetValue("kernelAuthenticode", out var a) && a.IsString ? Digest(a) : null,
    };

    private static Sha256Digest Digest(BsonValue v)
        => Sha256Digest.TryParse(v.AsString, out var digest) ? digest.Value : throw new ImageCatalogException($"catalog holds an invalid digest '{v.AsString}'");

    private static DateTimeOffset Utc(BsonValue v)
    {
        // LiteDB hands dates back in local time unless the connection says otherwise.
        var t = v.AsDateTime;
        return new DateTimeOffset(t.Kind == DateTimeKind.Local ? t.ToUniversalTime() : DateTime.SpecifyKind(t, DateTimeKind.Utc));
    }

    private static BsonValue Key(ImageKey? k) => k is null ? BsonValue.Null : new BsonDocument { ["name"] = k.Name, ["version"] = k.Version };

    private static ImageKey? ReadKey(BsonValue v) => v.IsDocument ? new ImageKey(v["name"].AsString, v["version"].AsString) : null;

    private static BsonDocument WriteChannel(ChannelState c) => new()
    {
        ["_id"] = c.Name,
        ["current"] = Key(c.Current),
        ["previous"] = new BsonArray(c.Previous.Select(Key)),
        ["updatedBy"] = c.UpdatedBy,
        ["updatedAt"] = c.UpdatedAt.UtcDateTime,
    };

    private static ChannelState ReadChannel(BsonDocument d) => new()
    {
        Name = d["_id"].AsString,
        Current = ReadKey(d["current"])!,
        Previous = d["previous"].AsArray.Select(v => ReadKey(v)!).ToList(),
        UpdatedBy = d["updatedBy"].AsString,
        UpdatedAt = Utc(d["updatedAt"]),
    };

    private static BsonDocument WriteChannelEvent(ChannelEvent e) => new()
    {
        ["channel"] = e.Channel,
        ["action"] = e.Action.ToString(),
        ["from"] = Key(e.From),
        ["to"] = Key(e.To),
        ["by"] = e.By,
        ["at"] = e.At.UtcDateTime,
    };

    private static ChannelEvent ReadChannelEvent(BsonDocument d) => new(
        d["channel"].AsString,
        Enum.Parse<ChannelAction>(d["action"].AsString),
        ReadKey(d["from"]),
        ReadKey(d["to"])!,
        d["by"].AsString,
        Utc(d["at"]));

    private static BsonDocument WriteImageEvent(ImageEvent e) => new()
    {
        ["image"] = e.Image.ToString(),
        ["name"] = e.Image.Name,
        ["version"] = e.Image.Version,
        ["action"] = e.Action.ToString(),
        ["by"] = e.By,
        ["at"] = e.At.UtcDateTime,
        ["source"] = e.Source,
    };

    private static ImageEvent ReadImageEvent(BsonDocument d) => new(
        new ImageKey(d["name"].AsString, d["version"].AsString),
        Enum.Parse<ImageAction>(d["action"].AsString),
        d["by"].AsString,
        Utc(d["at"]),
        d["source"].AsString);
}

/// <summary>A catalog operation was refused; the message says why in one line.</summary>
public sealed class ImageCatalogException(string message) : Exception(message);
