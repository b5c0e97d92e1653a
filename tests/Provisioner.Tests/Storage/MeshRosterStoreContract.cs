using System.Net;
using Kldload.MeshCA.Addressing;
using Kldload.MeshCA.Distribution;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;
using LiteDB;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// What every <see cref="IMeshRosterStore"/> promises: the epoch (0 until set), members by node id
/// with every field, revoked keys by public key, oldest revocation first.
/// </summary>
public abstract class MeshRosterStoreContract
{
    /// <summary>A roster store over the test's database; every store opened in one test sees the same rows.</summary>
    protected abstract IMeshRosterStore Open();

    /// <summary>The address store over the same database (the two share the mesh settings).</summary>
    protected abstract IMeshAddressStore OpenAddresses();

    private static MeshMember Member(string node, byte seed) => new()
    {
        NodeId = node,
        PublicKey = Enumerable.Repeat(seed, 32).ToArray(),
        KeyEpoch = 3_000_000_000u,
        Address6 = IPAddress.Parse($"fd12:3456:789a:1::{seed:x}"),
        Address4 = IPAddress.Parse($"100.64.0.{seed}"),
        Endpoint = $"192.0.2.{seed}:51820",
        Hub = "site-" + seed,
        Labels = new Dictionary<string, string> { ["rack"] = "r" + seed, ["role"] = "storage \"fast\" ✓" },
    };

    private static void AssertSameMember(MeshMember expected, MeshMember actual)
    {
        Assert.Equal(expected.NodeId, actual.NodeId);
        Assert.Equal(expected.PublicKey, actual.PublicKey);
        Assert.Equal(expected.KeyEpoch, actual.KeyEpoch);
        Assert.Equal(expected.Address6, actual.Address6);
        Assert.Equal(expected.Address4, actual.Address4);
        Assert.Equal(expected.Endpoint, actual.Endpoint);
        Assert.Equal(expected.Hub, actual.Hub);
        Assert.Equal(expected.Labels.OrderBy(l => l.Key, StringComparer.Ordinal), actual.Labels.OrderBy(l => l.Key, StringComparer.Ordinal));
    }

    private static RevokedKey Revoked(byte seed, DateTimeOffset at) => new()
    {
        PublicKey = Enumerable.Repeat(seed, 32).ToArray(),
        NodeId = "n" + seed,
        KeyEpoch = seed,
        RevokedAt = at,
    };

    [Fact]
    public void GetEpoch_NeverSet_IsZero_ThenSetAndReplaced()
    {
        var store = Open();
        Assert.Equal(0ul, store.GetEpoch());

        store.SetEpoch(41);
        store.SetEpoch(ulong.MaxValue - 1);

        Assert.Equal(ulong.MaxValue - 1, Open().GetEpoch());
    }

    [Fact]
    public void NextEpoch_IsOnePastTheLargerOfStoredAndCurrent_AndStored()
    {
        var store = Open();
        Assert.Equal(1ul, store.NextEpoch(0));
        Assert.Equal(2ul, store.NextEpoch(0)); // a provisioner that did not see epoch 1 still gets a new one
        Assert.Equal(11ul, store.NextEpoch(10));
        Assert.Equal(12ul, Open().NextEpoch(5));
        Assert.Equal(12ul, Open().GetEpoch());
    }

    [Fact]
    public void SaveHub_ThenHubs_RoundTripsAndReplacesByInstance()
    {
        var seen = new DateTimeOffset(2026, 12, 7, 23, 0, 0, 250, TimeSpan.FromHours(1));
        var store = Open();
        Assert.Empty(store.Hubs());
        store.SaveHub(new MeshHubRecord { InstanceId = "b", PublicKey = Enumerable.Repeat((byte)2, 32).ToArray(), Endpoint = "192.0.2.2:51820", SeenAt = seen });
        store.SaveHub(new MeshHubRecord { InstanceId = "a", PublicKey = Enumerable.Repeat((byte)1, 32).ToArray(), Endpoint = "192.0.2.1:51820", SeenAt = seen });
        store.SaveHub(new MeshHubRecord { InstanceId = "b", PublicKey = Enumerable.Repeat((byte)3, 32).ToArray(), Endpoint = "[2001:db8::3]:51821", SeenAt = seen.AddHours(1) });

        var hubs = Open().Hubs();

        Assert.Equal(["a", "b"], hubs.Select(h => h.InstanceId));
        Assert.Equal(Enumerable.Repeat((byte)3, 32), hubs[1].PublicKey);
        Assert.Equal("[2001:db8::3]:51821", hubs[1].Endpoint);
        Assert.Equal(seen.AddHours(1), hubs[1].SeenAt);
        Assert.Equal(TimeSpan.Zero, hubs[1].SeenAt.Offset);
    }

    [Fact]
    public void SetEpoch_BesideTheAddressPlansSettings_NeitherOverwritesTheOther()
    {
        OpenAddresses().SetSetting(MeshAddressAllocator.Prefix6Setting, "fd00:9::/64");
        Open().SetEpoch(7);

        Assert.Equal(7ul, Open().GetEpoch());
        Assert.Equal("fd00:9::/64", OpenAddresses().GetSetting(MeshAddressAllocator.Prefix6Setting));
    }

    [Fact]
    public void SaveMember_ThenMembers_RoundTripsEveryField()
    {
        var full = Member("n1", 1);
        var bare = new MeshMember { NodeId = "n2", PublicKey = [9, 9], Address6 = IPAddress.Parse("fd12:3456:789a:1::99") };
        Open().SaveMember(full);
        Open().SaveMember(bare);

        var members = Open().Members().OrderBy(m => m.NodeId, StringComparer.Ordinal).ToList();

        Assert.Equal(2, members.Count);
        AssertSameMember(full, members[0]);
        AssertSameMember(bare, members[1]);
        Assert.Empty(members[1].Labels);
    }

    [Fact]
    public void SaveMember_SameNode_Replaces()
    {
        var store = Open();
        store.SaveMember(Member("n1", 1));
        var rotated = Member("n1", 2) with { Address4 = null, Endpoint = null, Labels = new Dictionary<string, string>() };

        store.SaveMember(rotated);

        AssertSameMember(rotated, Assert.Single(store.Members()));
    }

    [Fact]
    public void DeleteMember_RemovesOnlyThatNode_MissingIsNoOp()
    {
        var store = Open();
        store.SaveMember(Member("n1", 1));
        store.SaveMember(Member("n2", 2));

        store.DeleteMember("n1");
        store.DeleteMember("n1");
        store.DeleteMember("nobody");

        Assert.Equal(["n2"], store.Members().Select(m => m.NodeId));
    }

    [Fact]
    public void Revoked_IsOldestFirst_OneEntryPerKey()
    {
        var t0 = new DateTimeOffset(2026, 12, 7, 12, 0, 0, 500, TimeSpan.FromHours(2));
        var store = Open();
        Assert.Empty(store.Revoked());
        store.AddRevoked(Revoked(3, t0.AddMinutes(2)));
        store.AddRevoked(Revoked(1, t0));
        store.AddRevoked(Revoked(2, t0.AddMinutes(1)));
        store.AddRevoked(Revoked(1, t0));

        var revoked = Open().Revoked();

        Assert.Equal([1, 2, 3], revoked.Select(k => (int)k.KeyEpoch));
        Assert.Equal(Enumerable.Repeat((byte)2, 32), revoked[1].PublicKey);
        Assert.Equal("n2", revoked[1].NodeId);
        Assert.Equal(t0.AddMinutes(1), revoked[1].RevokedAt);
        Assert.Equal(TimeSpan.Zero, revoked[1].RevokedAt.Offset);
    }
}

/// <summary>The contract against <see cref="LiteDbMeshRosterStore"/> (a LiteDB file in a temp dir).</summary>
public sealed class LiteDbMeshRosterStoreTests : MeshRosterStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kld-meshroster-").FullName;
    private readonly LiteDatabase _db;

    public LiteDbMeshRosterStoreTests()
    {
        _db = new LiteDatabase(new ConnectionString { Filename = Path.Combine(_dir, "kldload.db"), Connection = ConnectionType.Direct });
    }

    protected override IMeshRosterStore Open() => new LiteDbMeshRosterStore(_db);

    protected override IMeshAddressStore OpenAddresses() => new LiteDbMeshAddressStore(_db);

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>The contract against <see cref="PostgresMeshRosterStore"/> (a fresh database per test).</summary>
[Trait("Tier", "Integration")]
public sealed class PostgresMeshRosterStoreTests(PostgresFixture postgres) : MeshRosterStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresKldloadDatabase _database = PostgresKldloadDatabase.Open(postgres.CreateDatabase());

    protected override IMeshRosterStore Open() => new PostgresMeshRosterStore(_database);

    protected override IMeshAddressStore OpenAddresses() => new PostgresMeshAddressStore(_database);

    public void Dispose() => _database.Dispose();
}
