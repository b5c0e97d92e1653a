using LiteDB;

namespace Kldload.ImageStore;

/// <summary>
/// The image catalog's records in LiteDB (the host's <c>kldload.db</c>): collections
/// <c>image_manifests</c> (<c>_id</c> = <c>name/version</c>), <c>image_channels</c> (<c>_id</c> = the
/// channel name), <c>image_channel_history</c> and <c>image_history</c> (auto-numbered <c>_id</c>,
/// the order of the history). Documents are mapped by hand (no reflection, so the library stays
/// trimming-safe), field for field as kldload has always written them, so existing files and backups
/// read unchanged. The only class of this library that uses LiteDB.
/// </summary>
public sealed class LiteDbImageCatalogStore : IImageCatalogStore
{
    private const string ManifestsName = "image_manifests";
    private const string ChannelsName = "image_channels";
    private const string ChannelHistoryName = "image_channel_history";
    private const string ImageHistoryName = "image_history";

    private readonly ILiteDatabase _db;

    /// <summary>
    /// LiteDB reads in a transaction without locking what they read, so two changes on two threads
    /// could both read a channel and the second write would lose the first. Changes through this store
    /// take turns (the database file has a single writer process, which holds this store).
    /// </summary>
    private readonly Lock _changeLock = new();

    /// <param name="db">The open database; the caller owns and disposes it.</param>
    public LiteDbImageCatalogStore(ILiteDatabase db)
    {
        ArgumentNullException.ThrowIfNull(db);
        _db = db;
        _db.GetCollection(ChannelHistoryName).EnsureIndex("channel");
        _db.GetCollection(ImageHistoryName).EnsureIndex("image");
    }

    private ILiteCollection<BsonDocument> Manifests => _db.GetCollection(ManifestsName);

    private ILiteCollection<BsonDocument> Channels => _db.GetCollection(ChannelsName);

    private ILiteCollection<BsonDocument> ChannelHistory => _db.GetCollection(ChannelHistoryName, BsonAutoId.Int64);

    private ILiteCollection<BsonDocument> ImageHistory => _db.GetCollection(ImageHistoryName, BsonAutoId.Int64);

    public ImageManifest? GetManifest(ImageKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Manifests.FindById(key.ToString()) is { } d ? ReadManifest(d) : null;
    }

    public IReadOnlyList<ImageManifest> ListManifests()
        => Manifests.FindAll().Select(ReadManifest)
            .OrderBy(m => m.Name, StringComparer.Ordinal).ThenBy(m => m.Created).ThenBy(m => m.Version, StringComparer.Ordinal)
            .ToList();

    public ChannelState? GetChannel(string name) => Channels.FindById(name) is { } d ? ReadChannel(d) : null;

    public IReadOnlyList<ChannelState> ListChannels()
        => Channels.FindAll().Select(ReadChannel).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();

    public IReadOnlyList<ChannelEvent> GetChannelHistory(string channel)
        => ChannelHistory.Find(Query.EQ("channel", channel)).OrderBy(d => d["_id"].AsInt64).Select(ReadChannelEvent).ToList();

    public IReadOnlyList<ImageEvent> GetImageHistory()
        => ImageHistory.FindAll().OrderBy(d => d["_id"].AsInt64).Select(ReadImageEvent).ToList();

    public T Change<T>(Func<IImageCatalogChange, T> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_changeLock)
        {
            // BeginTrans is false when this thread already has a transaction open: the change then
            // joins it, and its owner commits or rolls back.
            var own = _db.BeginTrans();
            try
            {
                var result = change(new Writer(this));
                if (own)
                {
                    _db.Commit();
                }

                return result;
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
    }

    /// <summary>The writes of a change; reads go to the store, inside the same (per-thread) LiteDB transaction.</summary>
    private sealed class Writer(LiteDbImageCatalogStore store) : IImageCatalogChange
    {
        public ImageManifest? GetManifest(ImageKey key) => store.GetManifest(key);

        public IReadOnlyList<ImageManifest> ListManifests() => store.ListManifests();

        public ChannelState? GetChannel(string name) => store.GetChannel(name);

        public IReadOnlyList<ChannelState> ListChannels() => store.ListChannels();

        public void InsertManifest(ImageManifest manifest)
        {
            ArgumentNullException.ThrowIfNull(manifest);
            try
            {
                store.Manifests.Insert(WriteManifest(manifest));
            }
            catch (LiteException e) when (e.ErrorCode == LiteException.INDEX_DUPLICATE_KEY)
            {
                throw new ImageCatalogException($"image {manifest.Key} already exists");
            }
        }

        public bool DeleteManifest(ImageKey key)
        {
            ArgumentNullException.ThrowIfNull(key);
            return store.Manifests.Delete(key.ToString());
        }

        public void PutChannel(ChannelState channel)
        {
            ArgumentNullException.ThrowIfNull(channel);
            store.Channels.Upsert(WriteChannel(channel));
        }

        public void AppendChannelEvent(ChannelEvent change)
        {
            ArgumentNullException.ThrowIfNull(change);
            store.ChannelHistory.Insert(WriteChannelEvent(change));
        }

        public void AppendImageEvent(ImageEvent change)
        {
            ArgumentNullException.ThrowIfNull(change);
            store.ImageHistory.Insert(WriteImageEvent(change));
        }
    }

    private static BsonDocument WriteManifest(ImageManifest m)
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

    private static ImageManifest ReadManifest(BsonDocument d) => new()
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
