using Kldload.ImageStore;
using Microsoft.Extensions.Time.Testing;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// What every <see cref="IImageCatalogStore"/> promises, run against each provider by a small sealed
/// subclass. The last tests run the catalog's rules (<see cref="ImageCatalog"/>) over the store, so
/// promotions, rollbacks and deletions behave alike on LiteDB and PostgreSQL.
/// </summary>
public abstract class ImageCatalogStoreContract
{
    /// <summary>Whole milliseconds: the precision both providers keep.</summary>
    protected static readonly DateTimeOffset T0 = new(2026, 3, 14, 15, 9, 26, 535, TimeSpan.Zero);

    /// <summary>A fresh, empty store, created by the subclass's constructor.</summary>
    protected abstract IImageCatalogStore Store { get; }

    [Fact]
    public void GetManifest_Missing_ReturnsNull()
    {
        Assert.Null(Store.GetManifest(new ImageKey("live", "1")));
        Assert.Empty(Store.ListManifests());
    }

    [Fact]
    public void InsertManifest_EveryField_RoundTrips()
    {
        var m = Manifest("live", "1.2.3", T0) with
        {
            Architecture = "arm64",
            Rootfs = Digest(9),
            RootfsSize = 1L << 40,
            CommandLine = "console=ttyS0,115200 quiet 'x=\"y\"' \u00e9",
            Notes = "first line\nsecond line \u2713",
            KernelAuthenticode = Digest(7),
        };

        Store.Change(tx => { tx.InsertManifest(m); return 0; });

        var back = Store.GetManifest(m.Key)!;
        Assert.Equal(m, back);
        Assert.Equal(TimeSpan.Zero, back.Created.Offset);
        Assert.Equal([m], Store.ListManifests());
    }

    [Fact]
    public void InsertManifest_NoRootfsNoAuthenticode_ReadsBackNulls()
    {
        var m = Manifest("live", "1", T0);

        Store.Change(tx => { tx.InsertManifest(m); return 0; });

        var back = Store.GetManifest(m.Key)!;
        Assert.Null(back.Rootfs);
        Assert.Null(back.RootfsSize);
        Assert.Null(back.KernelAuthenticode);
        Assert.Equal(m, back);
    }

    [Fact]
    public void InsertManifest_ExistingKey_ThrowsAndKeepsTheFirst()
    {
        var first = Manifest("live", "1", T0) with { Notes = "first" };
        Store.Change(tx => { tx.InsertManifest(first); return 0; });

        var e = Assert.Throws<ImageCatalogException>(() => Store.Change(tx => { tx.InsertManifest(first with { Notes = "second", Kernel = Digest(5) }); return 0; }));

        Assert.Contains("live/1", e.Message, StringComparison.Ordinal);
        Assert.Equal(first, Store.GetManifest(first.Key));
        Assert.Single(Store.ListManifests());
    }

    [Fact]
    public void ListManifests_SeveralImages_ByNameOrdinalThenCreatedThenVersion()
    {
        var inserted = new[]
        {
            Manifest("a", "2", T0.AddHours(1)),
            Manifest("a", "9", T0),
            Manifest("a", "10", T0),
            Manifest("B", "1", T0.AddDays(1)),
            Manifest("a-b", "1", T0.AddDays(-1)),
        };
        Store.Change(tx =>
        {
            foreach (var m in inserted)
            {
                tx.InsertManifest(m);
            }

            return 0;
        });

        // Ordinal: upper case before lower case; "10" before "9" at equal creation times.
        Assert.Equal(["B/1", "a/10", "a/9", "a/2", "a-b/1"], Store.ListManifests().Select(m => m.Key.ToString()).ToList());
    }

    [Fact]
    public void DeleteManifest_PresentAndMissing_ReportsWhetherItRemovedOne()
    {
        var keep = Manifest("live", "1", T0);
        var drop = Manifest("live", "2", T0);
        Store.Change(tx => { tx.InsertManifest(keep); tx.InsertManifest(drop); return 0; });

        Assert.True(Store.Change(tx => tx.DeleteManifest(drop.Key)));
        Assert.False(Store.Change(tx => tx.DeleteManifest(drop.Key)));
        Assert.False(Store.Change(tx => tx.DeleteManifest(new ImageKey("other", "1"))));

        Assert.Null(Store.GetManifest(drop.Key));
        Assert.Equal([keep], Store.ListManifests());
    }

    [Fact]
    public void GetChannel_Missing_ReturnsNull()
    {
        Assert.Null(Store.GetChannel("stable"));
        Assert.Empty(Store.ListChannels());
    }

    [Fact]
    public void PutChannel_CreateThenReplace_RoundTripsEveryField()
    {
        var created = new ChannelState { Name = "stable", Current = new("live", "1"), Previous = [], UpdatedBy = "alice", UpdatedAt = T0 };
        Store.Change(tx => { tx.PutChannel(created); return 0; });
        AssertChannel(created, Store.GetChannel("stable"));

        var replaced = new ChannelState
        {
            Name = "stable",
            Current = new("live", "3"),
            Previous = [new("live", "2"), new("live", "1"), new("other", "1")],
            UpdatedBy = "bob",
            UpdatedAt = T0.AddMinutes(5),
        };
        Store.Change(tx => { tx.PutChannel(replaced); return 0; });

        AssertChannel(replaced, Store.GetChannel("stable"));
        Assert.Single(Store.ListChannels());
    }

    [Fact]
    public void ListChannels_SeveralChannels_ByNameOrdinal()
    {
        Store.Change(tx =>
        {
            foreach (var name in new[] { "stable", "Canary", "beta", "beta-2" })
            {
                tx.PutChannel(new ChannelState { Name = name, Current = new("live", "1"), Previous = [], UpdatedBy = "ci", UpdatedAt = T0 });
            }

            return 0;
        });

        Assert.Equal(["Canary", "beta", "beta-2", "stable"], Store.ListChannels().Select(c => c.Name).ToList());
    }

    [Fact]
    public void GetChannelHistory_TwoChannelsInterleaved_OnlyThatChannelOldestFirst()
    {
        var a1 = new ChannelEvent("stable", ChannelAction.Promote, null, new("live", "1"), "alice", T0);
        var b1 = new ChannelEvent("canary", ChannelAction.Promote, null, new("live", "2"), "ci", T0.AddSeconds(1));
        var a2 = new ChannelEvent("stable", ChannelAction.Promote, new("live", "1"), new("live", "2"), "bob", T0.AddSeconds(2));
        // Recorded out of time order on purpose: history is in the order of the changes, not of their clocks.
        var a3 = new ChannelEvent("stable", ChannelAction.Rollback, new("live", "2"), new("live", "1"), "carol", T0.AddSeconds(-30));
        Store.Change(tx => { tx.AppendChannelEvent(a1); tx.AppendChannelEvent(b1); return 0; });
        Store.Change(tx => { tx.AppendChannelEvent(a2); return 0; });
        Store.Change(tx => { tx.AppendChannelEvent(a3); return 0; });

        Assert.Equal([a1, a2, a3], Store.GetChannelHistory("stable"));
        Assert.Equal([b1], Store.GetChannelHistory("canary"));
        Assert.Empty(Store.GetChannelHistory("nightly"));
    }

    [Fact]
    public void GetImageHistory_ImportsAndDeletions_EveryFieldOldestFirst()
    {
        var imported = new ImageEvent(new("live", "1"), ImageAction.Imported, "alice", T0, "directory /srv/live-1");
        var deleted = new ImageEvent(new("live", "1"), ImageAction.Deleted, "bob", T0.AddDays(2), string.Empty);
        var other = new ImageEvent(new("rescue", "7"), ImageAction.Imported, "carol", T0.AddDays(1), "bundle /tmp/r.kbundle");
        Store.Change(tx => { tx.AppendImageEvent(imported); tx.AppendImageEvent(deleted); return 0; });
        Store.Change(tx => { tx.AppendImageEvent(other); return 0; });

        Assert.Equal([imported, deleted, other], Store.GetImageHistory());
    }

    [Fact]
    public void Change_ReturnsItsResultAndReadsItsOwnWrites()
    {
        var m = Manifest("live", "1", T0);
        var seen = Store.Change(tx =>
        {
            tx.InsertManifest(m);
            tx.PutChannel(new ChannelState { Name = "stable", Current = m.Key, Previous = [], UpdatedBy = "a", UpdatedAt = T0 });
            return (tx.GetManifest(m.Key), tx.ListManifests().Count, tx.GetChannel("stable")?.Current, tx.ListChannels().Count);
        });

        Assert.Equal(m, seen.Item1);
        Assert.Equal(1, seen.Item2);
        Assert.Equal(m.Key, seen.Item3);
        Assert.Equal(1, seen.Item4);
    }

    [Fact]
    public void Change_Throws_NothingIsKeptAndTheExceptionPassesThrough()
    {
        var kept = Manifest("live", "1", T0);
        Store.Change(tx => { tx.InsertManifest(kept); tx.PutChannel(Channel("stable", kept.Key)); return 0; });
        var failure = new InvalidOperationException("stop here");

        var thrown = Assert.Throws<InvalidOperationException>(() => Store.Change<int>(tx =>
        {
            tx.InsertManifest(Manifest("live", "2", T0));
            tx.DeleteManifest(kept.Key);
            tx.PutChannel(Channel("stable", new("live", "2")));
            tx.PutChannel(Channel("canary", new("live", "2")));
            tx.AppendChannelEvent(new ChannelEvent("stable", ChannelAction.Promote, kept.Key, new("live", "2"), "x", T0));
            tx.AppendImageEvent(new ImageEvent(new("live", "2"), ImageAction.Imported, "x", T0, "s"));
            throw failure;
        }));

        Assert.Same(failure, thrown);
        Assert.Equal([kept], Store.ListManifests());
        Assert.Equal([("stable", kept.Key)], Store.ListChannels().Select(c => (c.Name, c.Current)).ToList());
        Assert.Empty(Store.GetChannelHistory("stable"));
        Assert.Empty(Store.GetImageHistory());
    }

    [Fact]
    public void Change_ConcurrentReadModifyWrite_LosesNoUpdate()
    {
        const int Writers = 8;
        Store.Change(tx => { tx.PutChannel(Channel("stable", new("live", "0"))); return 0; });

        // Each change reads the channel, waits, and writes it back with one more entry: changes that
        // interleaved would overwrite each other's entry.
        Parallel.For(0, Writers, new ParallelOptions { MaxDegreeOfParallelism = Writers }, i => Store.Change(tx =>
        {
            var c = tx.GetChannel("stable")!;
            Thread.Sleep(20);
            tx.PutChannel(c with { Previous = [.. c.Previous, new ImageKey("live", (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture))] });
            return 0;
        }));

        var previous = Store.GetChannel("stable")!.Previous;
        Assert.Equal(Writers, previous.Count);
        Assert.Equal(Writers, previous.Distinct().Count());
    }

    [Fact]
    public void Catalog_PromotePromoteRollback_ResolvesAndRecordsLikeEveryProvider()
    {
        var time = new FakeTimeProvider(T0);
        var catalog = new ImageCatalog(Store, time);
        var v1 = Manifest("live", "1", T0);
        var v2 = Manifest("live", "2", T0.AddMinutes(1));
        Assert.Equal([v1, v2], catalog.Add([v1, v2], "alice", "test"));

        catalog.Promote("stable", v1.Key, "alice");
        time.Advance(TimeSpan.FromSeconds(1));
        catalog.Promote("stable", v2.Key, "bob");
        time.Advance(TimeSpan.FromSeconds(1));
        var back = catalog.Rollback("stable", "carol");

        Assert.Equal(new ChannelEvent("stable", ChannelAction.Rollback, v2.Key, v1.Key, "carol", T0.AddSeconds(2)), back);
        Assert.Equal(v1, catalog.Resolve("stable"));
        Assert.Empty(catalog.GetChannel("stable")!.Previous);
        Assert.Equal(
            ["Promote -> live/1 by alice", "Promote live/1 -> live/2 by bob", "Rollback live/2 -> live/1 by carol"],
            catalog.GetChannelHistory("stable").Select(h => $"{h.Action} {(h.From is null ? string.Empty : h.From + " ")}-> {h.To} by {h.By}").ToList());
        var e = Assert.Throws<ImageCatalogException>(() => catalog.Delete(v1.Key, "dave", []));
        Assert.Contains("channel stable", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Catalog_AddWithOneInvalidManifest_AddsNone()
    {
        var catalog = new ImageCatalog(Store, new FakeTimeProvider(T0));
        var good = Manifest("live", "1", T0);
        var bad = Manifest("live", ".hidden", T0);

        Assert.Throws<ImageCatalogException>(() => catalog.Add([good, bad], "alice", "test"));

        Assert.Empty(catalog.List());
        Assert.Empty(catalog.GetImageHistory());
    }

    [Fact]
    public void Catalog_DeleteUnusedImage_RemovesItAndRecordsBothEvents()
    {
        var time = new FakeTimeProvider(T0);
        var catalog = new ImageCatalog(Store, time);
        var m = Manifest("live", "1", T0);
        catalog.Add([m], "alice", "directory /srv/live");
        Assert.Empty(catalog.Add([m with { Created = T0.AddDays(1) }], "alice", "again"));
        time.Advance(TimeSpan.FromHours(1));

        catalog.Delete(m.Key, "bob", []);

        Assert.Null(catalog.Get(m.Key));
        Assert.Equal(
            [new ImageEvent(m.Key, ImageAction.Imported, "alice", T0, "directory /srv/live"), new ImageEvent(m.Key, ImageAction.Deleted, "bob", T0.AddHours(1), string.Empty)],
            catalog.GetImageHistory());
    }

    protected static Sha256Digest Digest(byte seed) => Sha256Digest.Of([seed]);

    protected static ImageManifest Manifest(string name, string version, DateTimeOffset created) => new()
    {
        Name = name,
        Version = version,
        Architecture = "x86_64",
        Kernel = Digest(1),
        KernelSize = 4096,
        Initrd = Digest(2),
        InitrdSize = 8192,
        Created = created,
    };

    private static ChannelState Channel(string name, ImageKey current)
        => new() { Name = name, Current = current, Previous = [], UpdatedBy = "test", UpdatedAt = T0 };

    /// <summary>Records compare lists by reference; channels are compared field by field.</summary>
    private static void AssertChannel(ChannelState expected, ChannelState? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Current, actual.Current);
        Assert.Equal(expected.Previous, actual.Previous);
        Assert.Equal(expected.UpdatedBy, actual.UpdatedBy);
        Assert.Equal(expected.UpdatedAt, actual.UpdatedAt);
        Assert.Equal(TimeSpan.Zero, actual.UpdatedAt.Offset);
    }
}
