using Kldload.ImageStore;
using Kldload.Provisioner.Storage;
using LiteDB;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>The contract on LiteDB (a <c>kldload.db</c> in a temporary directory), and the documents as earlier kldloads wrote them.</summary>
public sealed class LiteDbImageCatalogStoreTests : ImageCatalogStoreContract, IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"kl-imgcat-{Guid.NewGuid():N}");
    private readonly LiteKldloadDatabase _db;

    public LiteDbImageCatalogStoreTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        Store = new LiteDbImageCatalogStore(_db.Database);
    }

    protected override IImageCatalogStore Store { get; }

    [Fact]
    public void Documents_WrittenByTheStore_KeepTheirOnDiskFieldNames()
    {
        var m = Manifest("live", "1", T0) with { Rootfs = Digest(3), RootfsSize = 16384, KernelAuthenticode = Digest(4) };
        Store.Change(tx =>
        {
            tx.InsertManifest(m);
            tx.PutChannel(new ChannelState { Name = "stable", Current = m.Key, Previous = [new("live", "0")], UpdatedBy = "alice", UpdatedAt = T0 });
            tx.AppendChannelEvent(new ChannelEvent("stable", ChannelAction.Promote, null, m.Key, "alice", T0));
            tx.AppendImageEvent(new ImageEvent(m.Key, ImageAction.Imported, "alice", T0, "test"));
            return 0;
        });

        var manifest = _db.Database.GetCollection("image_manifests").FindById("live/1");
        Assert.Equal(
            ["_id", "arch", "cmdline", "created", "initrd", "initrdSize", "kernel", "kernelAuthenticode", "kernelSize", "name", "notes", "rootfs", "rootfsSize", "version"],
            manifest.Keys.Order(StringComparer.Ordinal).ToList());
        Assert.Equal(Digest(1).ToString(), manifest["kernel"].AsString);
        Assert.Equal(T0.UtcDateTime, manifest["created"].AsDateTime.ToUniversalTime());

        var channel = _db.Database.GetCollection("image_channels").FindById("stable");
        Assert.Equal(["_id", "current", "previous", "updatedAt", "updatedBy"], channel.Keys.Order(StringComparer.Ordinal).ToList());
        Assert.Equal("1", channel["current"]["version"].AsString);
        Assert.Equal("0", channel["previous"][0]["version"].AsString);

        var move = Assert.Single(_db.Database.GetCollection("image_channel_history").FindAll());
        Assert.Equal(["_id", "action", "at", "by", "channel", "from", "to"], move.Keys.Order(StringComparer.Ordinal).ToList());
        Assert.True(move["_id"].IsInt64);
        Assert.Equal("Promote", move["action"].AsString);
        Assert.True(move["from"].IsNull);

        var imported = Assert.Single(_db.Database.GetCollection("image_history").FindAll());
        Assert.Equal(["_id", "action", "at", "by", "image", "name", "source", "version"], imported.Keys.Order(StringComparer.Ordinal).ToList());
        Assert.Equal("live/1", imported["image"].AsString);
    }

    [Fact]
    public void Documents_WrittenByAnEarlierKldload_ReadBack()
    {
        var created = new DateTime(2025, 11, 2, 8, 30, 0, DateTimeKind.Utc);
        _db.Database.GetCollection("image_manifests").Insert(new BsonDocument
        {
            ["_id"] = "live/2025.11",
            ["name"] = "live",
            ["version"] = "2025.11",
            ["arch"] = "x86_64",
            ["kernel"] = Digest(1).ToString(),
            ["kernelSize"] = 4096L,
            ["initrd"] = Digest(2).ToString(),
            ["initrdSize"] = 8192L,
            ["cmdline"] = "quiet",
            ["created"] = created,
            ["notes"] = string.Empty,
        });
        _db.Database.GetCollection("image_channels").Insert(new BsonDocument
        {
            ["_id"] = "stable",
            ["current"] = new BsonDocument { ["name"] = "live", ["version"] = "2025.11" },
            ["previous"] = new BsonArray(),
            ["updatedBy"] = "admin",
            ["updatedAt"] = created,
        });
        _db.Database.GetCollection("image_channel_history", BsonAutoId.Int64).Insert(new BsonDocument
        {
            ["channel"] = "stable",
            ["action"] = "Promote",
            ["from"] = BsonValue.Null,
            ["to"] = new BsonDocument { ["name"] = "live", ["version"] = "2025.11" },
            ["by"] = "admin",
            ["at"] = created,
        });

        var m = Store.GetManifest(new ImageKey("live", "2025.11"))!;
        Assert.Equal(Manifest("live", "2025.11", new DateTimeOffset(created)) with { CommandLine = "quiet" }, m);
        Assert.Equal(m, new ImageCatalog(Store, TimeProvider.System).Resolve("stable"));
        Assert.Equal([new ChannelEvent("stable", ChannelAction.Promote, null, m.Key, "admin", new DateTimeOffset(created))], Store.GetChannelHistory("stable"));
    }

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
