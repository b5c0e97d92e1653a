using System.Net;
using System.Security.Cryptography;
using System.Text;
using Kldload.MeshCA.Addressing;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;
using LiteDB;
using Microsoft.Extensions.Time.Testing;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// What every <see cref="IMeshAddressStore"/> promises: settings by name, records by interface id,
/// IPv4 address and node, replace by interface id, and no address held by two nodes' records.
/// </summary>
public abstract class MeshAddressStoreContract
{
    private static readonly IPNetwork Prefix = IPNetwork.Parse("fd12:3456:789a:1::/64");

    /// <summary>A store over the test's database; every store opened in one test sees the same records.</summary>
    protected abstract IMeshAddressStore Open();

    protected static MeshAddressRecord Record(ulong interfaceId, string node, uint? address4 = null, DateTimeOffset? released = null) => new()
    {
        InterfaceId = interfaceId,
        Address4 = address4,
        NodeId = node,
        EkSha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(node))),
        AllocatedAt = new DateTimeOffset(2026, 12, 7, 10, 30, 0, 125, TimeSpan.FromHours(1)),
        ReleasedAt = released,
    };

    protected static MeshAddressAllocator Allocator(IMeshAddressStore store, string cidr4, TimeProvider? time = null) =>
        new(store, new MeshAddressingOptions { Prefix6 = Prefix, Cidr4 = IPNetwork.Parse(cidr4) },
            time ?? new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero)));

    protected static byte[] Ek(string name) => SHA256.HashData(Encoding.ASCII.GetBytes(name));

    [Fact]
    public void GetSetting_Missing_IsNull_ThenSetAndReplaced()
    {
        var store = Open();
        Assert.Null(store.GetSetting("prefix6"));

        store.SetSetting("prefix6", "fd00:1::/64");
        store.SetSetting("prefix6", "fd00:2::/64");
        store.SetSetting("other", "x");

        Assert.Equal("fd00:2::/64", Open().GetSetting("prefix6"));
        Assert.Equal("x", Open().GetSetting("other"));
    }

    [Fact]
    public void AddSettingIfAbsent_FirstValueStays()
    {
        var store = Open();
        Assert.Equal("fd00:1::/64", store.AddSettingIfAbsent("prefix6", "fd00:1::/64"));
        Assert.Equal("fd00:1::/64", Open().AddSettingIfAbsent("prefix6", "fd00:2::/64"));
        Assert.Equal("fd00:1::/64", Open().GetSetting("prefix6"));
    }

    [Fact]
    public void Allocator_NoPrefixConfigured_GeneratesOneAndKeepsIt()
    {
        var first = new MeshAddressAllocator(Open(), new MeshAddressingOptions(), TimeProvider.System);
        var again = new MeshAddressAllocator(Open(), new MeshAddressingOptions(), TimeProvider.System);
        Assert.Equal(first.Prefix6, again.Prefix6);
        Assert.Equal(first.Prefix6.ToString(), Open().GetSetting(MeshAddressAllocator.Prefix6Setting));
    }

    [Fact]
    public void Save_ThenFind_RoundTripsEveryField()
    {
        // An interface id above long.MaxValue and an IPv4 address above int.MaxValue.
        var active = Record(0xFD12_3456_789A_BCDEul, "n1", 0xC0A8_0102u);
        var released = Record(0x0000_0000_0000_0101ul, "n2", released: new DateTimeOffset(2026, 12, 8, 1, 2, 3, 456, TimeSpan.FromHours(-3)));
        var store = Open();
        store.Save(active);
        store.Save(released);

        var reader = Open();
        var byId = reader.FindByInterfaceId(active.InterfaceId);
        var byV4 = reader.FindByAddress4(0xC0A8_0102u);
        var byNode = Assert.Single(reader.FindByNode("n2"));

        Assert.Equal(active, byId);
        Assert.Equal(active, byV4);
        Assert.Equal(released, byNode);
        Assert.Equal(TimeSpan.Zero, byId!.AllocatedAt.Offset);
        Assert.Equal(TimeSpan.Zero, byNode.ReleasedAt!.Value.Offset);
        Assert.Equal([released.InterfaceId, active.InterfaceId], reader.All().Select(r => r.InterfaceId).Order());
    }

    [Fact]
    public void Find_Missing_IsNullOrEmpty()
    {
        var store = Open();
        store.Save(Record(0x1000, "n1", 0x6440_0002u));

        Assert.Null(store.FindByInterfaceId(0x1001));
        Assert.Null(store.FindByAddress4(0x6440_0003u));
        Assert.Empty(store.FindByNode("n9"));
    }

    [Fact]
    public void FindByNode_ActiveAndReleased_ReturnsOnlyThatNodesRecords()
    {
        var store = Open();
        store.Save(Record(0x1000, "n1", released: new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero)));
        store.Save(Record(0x1001, "n1", 0x6440_0002u));
        store.Save(Record(0x1002, "n2", 0x6440_0003u));

        Assert.Equal([0x1000ul, 0x1001ul], store.FindByNode("n1").Select(r => r.InterfaceId).Order());
    }

    [Fact]
    public void Save_SameInterfaceIdSameNode_Replaces()
    {
        var store = Open();
        store.Save(Record(0x1000, "n1", 0x6440_0002u));
        var released = Record(0x1000, "n1", released: new DateTimeOffset(2026, 12, 9, 0, 0, 0, TimeSpan.Zero)) with { EkSha256 = new string('a', 64) };

        store.Save(released);

        Assert.Equal(released, Assert.Single(store.All()));
        Assert.Null(store.FindByAddress4(0x6440_0002u));
    }

    [Fact]
    public void Save_InterfaceIdHeldByAnotherNode_ThrowsAndKeepsTheHolder()
    {
        var store = Open();
        var holder = Record(0x1000, "n1", 0x6440_0002u);
        store.Save(holder);

        Assert.Throws<MeshAddressConflictException>(() => store.Save(Record(0x1000, "n2")));
        Assert.Equal(holder, Assert.Single(store.All()));
    }

    [Fact]
    public void Save_Address4HeldByAnotherRecord_ThrowsAndKeepsTheHolder()
    {
        var store = Open();
        var holder = Record(0x1000, "n1", 0x6440_0002u);
        store.Save(holder);

        Assert.Throws<MeshAddressConflictException>(() => store.Save(Record(0x2000, "n2", 0x6440_0002u)));
        Assert.Equal(holder, store.FindByAddress4(0x6440_0002u));
        Assert.Null(store.FindByInterfaceId(0x2000));
    }

    [Fact]
    public void Save_HolderGivesUpAddress4_AnotherNodeMayTakeIt()
    {
        var store = Open();
        store.Save(Record(0x1000, "n1", 0x6440_0002u));
        store.Save(Record(0x1000, "n1"));

        store.Save(Record(0x2000, "n2", 0x6440_0002u));

        Assert.Equal("n2", store.FindByAddress4(0x6440_0002u)!.NodeId);
    }

    [Fact]
    public void Delete_RemovesOnlyThatRecord_MissingIsNoOp()
    {
        var store = Open();
        store.Save(Record(0x1000, "n1"));
        store.Save(Record(0x1001, "n2"));

        store.Delete(0x1000);
        store.Delete(0x1000);
        store.Delete(0xFFFF_FFFF_FFFF_FFFFul);

        Assert.Equal([0x1001ul], store.All().Select(r => r.InterfaceId));
        Assert.Null(store.FindByInterfaceId(0x1000));
    }

    [Fact]
    public void Allocate_ManyNodesFromManyThreads_GivesEveryNodeItsOwnAddresses()
    {
        var allocator = Allocator(Open(), "100.64.0.0/26");

        var given = new MeshAddresses[40];
        Parallel.For(0, given.Length, i => given[i] = allocator.Allocate("n" + i, Ek("tpm" + i)));

        Assert.Equal(given.Length, given.Select(a => a.Address6).Distinct().Count());
        Assert.Equal(given.Length, given.Select(a => a.Address4).Distinct().Count());
        // A second allocator over the stored records (a restart) gives every node the same addresses.
        var again = Allocator(Open(), "100.64.0.0/26");
        Assert.All(Enumerable.Range(0, given.Length), i => Assert.Equal(given[i], again.Allocate("n" + i, Ek("tpm" + i))));
    }
}

/// <summary>The contract against <see cref="LiteDbMeshAddressStore"/> (a LiteDB file in a temp dir).</summary>
public sealed class LiteDbMeshAddressStoreTests : MeshAddressStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kld-meshaddr-").FullName;
    private readonly LiteDatabase _db;

    public LiteDbMeshAddressStoreTests()
    {
        _db = new LiteDatabase(new ConnectionString { Filename = Path.Combine(_dir, "kldload.db"), Connection = ConnectionType.Direct });
    }

    protected override IMeshAddressStore Open() => new LiteDbMeshAddressStore(_db);

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>The contract against <see cref="PostgresMeshAddressStore"/> (a fresh database per test).</summary>
[Trait("Tier", "Integration")]
public sealed class PostgresMeshAddressStoreTests(PostgresFixture postgres) : MeshAddressStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _connectionString = postgres.CreateDatabase();
    private readonly List<PostgresKldloadDatabase> _opened = [];

    private PostgresKldloadDatabase OpenDatabase()
    {
        var database = PostgresKldloadDatabase.Open(_connectionString);
        _opened.Add(database);
        return database;
    }

    protected override IMeshAddressStore Open() => new PostgresMeshAddressStore(_opened.Count == 0 ? OpenDatabase() : _opened[0]);

    public void Dispose() => _opened.ForEach(d => d.Dispose());

    [Fact]
    public async Task Allocator_ProvisionersStartingTogetherOnAnEmptyDatabase_AgreeOnOnePrefix()
    {
        // Each would generate its own random prefix; the first stored is the one all of them use.
        var stores = Enumerable.Range(0, 6).Select(_ => new PostgresMeshAddressStore(OpenDatabase())).ToList();
        using var start = new Barrier(stores.Count);
        var prefixes = await Task.WhenAll(stores.Select(store => Task.Run(() =>
        {
            start.SignalAndWait();
            return new MeshAddressAllocator(store, new MeshAddressingOptions(), TimeProvider.System).Prefix6;
        })));
        Assert.Single(prefixes.Distinct());
        Assert.Equal(prefixes[0].ToString(), Open().GetSetting(MeshAddressAllocator.Prefix6Setting));
    }

    [Fact]
    public void Allocate_TwoProvisionersAtOnce_NeverGiveOneAddressTwice()
    {
        // Two instances (each its own pool and allocator lock) on one database, a pool of 29 IPv4
        // addresses for 28 nodes: EK-derived start offsets collide, so both often pick the same free
        // address at the same moment; the unique constraint refuses the second and it probes on.
        var a = Allocator(new PostgresMeshAddressStore(OpenDatabase()), "100.64.0.0/27");
        var b = Allocator(new PostgresMeshAddressStore(OpenDatabase()), "100.64.0.0/27");
        var given = new MeshAddresses[28];
        using var start = new Barrier(2);

        Parallel.Invoke(
            () => Allocate(a, 0),
            () => Allocate(b, 1));

        Assert.Equal(given.Length, given.Select(g => g.Address6).Distinct().Count());
        Assert.Equal(given.Length, given.Select(g => g.Address4).Distinct().Count());
        var rows = Open().All();
        Assert.Equal(given.Length, rows.Count);
        Assert.Equal(given.Length, rows.Select(r => r.Address4).Distinct().Count());

        void Allocate(MeshAddressAllocator allocator, int parity)
        {
            start.SignalAndWait();
            for (var i = parity; i < given.Length; i += 2)
            {
                given[i] = allocator.Allocate("n" + i, Ek("tpm" + i));
            }
        }
    }
}
