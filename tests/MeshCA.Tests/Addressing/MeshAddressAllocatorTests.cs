using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using Kldload.MeshCA.Addressing;
using Kldload.MeshCA.Tests.Tools;
using LiteDB;

namespace Kldload.MeshCA.Tests.Addressing;

public sealed class MeshAddressAllocatorTests : IDisposable
{
    private static readonly IPNetwork Prefix = IPNetwork.Parse("fd12:3456:789a:1::/64");
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero));

    public void Dispose() => _dir.Dispose();

    private LiteDatabase OpenDb() => new(new ConnectionString { Filename = _dir.File("kldload.db"), Connection = ConnectionType.Direct });

    private MeshAddressAllocator NewAllocator(LiteDatabase db, IPNetwork? prefix = null, string? cidr4 = null, TimeSpan? quarantine = null) =>
        new(new LiteDbMeshAddressStore(db), new MeshAddressingOptions
        {
            Prefix6 = prefix,
            Cidr4 = cidr4 is null ? null : IPNetwork.Parse(cidr4),
            Quarantine = quarantine ?? TimeSpan.FromDays(30),
        }, _clock);

    private static byte[] Ek(string name) => SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(name));

    [Fact]
    public void Allocate_NewNode_IsPrefixPlusFirst64BitsOfEkHash()
    {
        using var db = OpenDb();
        var ipam = NewAllocator(db, Prefix);
        var ek = Ek("tpm-a");

        var a = ipam.Allocate("n1", ek);

        var expected = new byte[16];
        Prefix.BaseAddress.GetAddressBytes().AsSpan(0, 8).CopyTo(expected);
        ek.AsSpan(0, 8).CopyTo(expected.AsSpan(8));
        Assert.Equal(new IPAddress(expected), a.Address6);
        Assert.Equal(IPAddress.Parse("fd12:3456:789a:1::1"), ipam.HubAddress6);
        Assert.Null(a.Address4);
    }

    [Fact]
    public void Allocate_AfterReopeningTheDatabase_IsStable()
    {
        MeshAddresses first;
        IPNetwork generated;
        using (var db = OpenDb())
        {
            var ipam = NewAllocator(db, cidr4: "100.64.0.0/24");
            generated = ipam.Prefix6;
            first = ipam.Allocate("n1", Ek("tpm-a"));
            ipam.Allocate("n2", Ek("tpm-b"));
        }

        using (var db = OpenDb())
        {
            var ipam = NewAllocator(db, cidr4: "100.64.0.0/24");
            Assert.Equal(generated, ipam.Prefix6);
            Assert.Equal(first, ipam.Allocate("n1", Ek("tpm-a")));
            Assert.Equal(first, ipam.Find("n1"));
            Assert.Equal(2, ipam.ListActive().Count);
        }

        Assert.Equal(0xFD, generated.BaseAddress.GetAddressBytes()[0]);
        Assert.Equal(64, generated.PrefixLength);
    }

    [Fact]
    public void Allocate_SameNodeNewHardware_KeepsAddress_ReplacementMovesIdentity()
    {
        using var db = OpenDb();
        var ipam = NewAllocator(db, Prefix);
        var a = ipam.Allocate("n1", Ek("old-board"));
        Assert.Equal(a, ipam.Allocate("n1", Ek("new-board")));
        Assert.Equal(Convert.ToHexStringLower(Ek("new-board")), new LiteDbMeshAddressStore(db).FindByNode("n1").Single().EkSha256);
    }

    [Fact]
    public void Allocate_CollidingInterfaceId_TakesDeterministicNextCandidate()
    {
        using var db = OpenDb();
        var store = new LiteDbMeshAddressStore(db);
        var ipam = NewAllocator(db, Prefix);
        var ek = Ek("tpm-victim");
        var wanted = BinaryPrimitives.ReadUInt64BigEndian(ek);

        // Another node already holds the interface id this EK hashes to.
        store.Save(new MeshAddressRecord { InterfaceId = wanted, NodeId = "squatter", EkSha256 = "00", AllocatedAt = _clock.GetUtcNow() });

        var a = ipam.Allocate("victim", ek);

        var expectedInput = ek.Concat("kldload/mesh/collision"u8.ToArray()).Concat(new byte[] { 0, 0, 0, 1 }).ToArray();
        var expectedId = BinaryPrimitives.ReadUInt64BigEndian(SHA256.HashData(expectedInput));
        Assert.Equal(ipam.Compose6(expectedId), a.Address6);
        Assert.NotEqual(ipam.Compose6(wanted), a.Address6);

        // Same history in a fresh database: same answer.
        using var other = new LiteDatabase(new MemoryStream());
        var otherStore = new LiteDbMeshAddressStore(other);
        otherStore.Save(new MeshAddressRecord { InterfaceId = wanted, NodeId = "squatter", EkSha256 = "00", AllocatedAt = _clock.GetUtcNow() });
        Assert.Equal(a.Address6, new MeshAddressAllocator(otherStore, new MeshAddressingOptions { Prefix6 = Prefix }, _clock).Allocate("victim", ek).Address6);
    }

    [Fact]
    public void Allocate_ManyNodes_AllAddressesDistinctAndNeverTheHub()
    {
        using var db = OpenDb();
        var ipam = NewAllocator(db, Prefix, cidr4: "10.99.0.0/26");
        var all = Enumerable.Range(0, 61).Select(i => ipam.Allocate($"n{i}", Ek($"tpm{i}"))).ToList();

        Assert.Equal(61, all.Select(a => a.Address6).Distinct().Count());
        Assert.Equal(61, all.Select(a => a.Address4).Distinct().Count());
        Assert.DoesNotContain(all, a => a.Address6.Equals(ipam.HubAddress6) || a.Address4!.Equals(ipam.HubAddress4));
        Assert.DoesNotContain(all, a => a.Address4!.Equals(IPAddress.Parse("10.99.0.0")) || a.Address4!.Equals(IPAddress.Parse("10.99.0.63")));
        Assert.Equal(IPAddress.Parse("10.99.0.1"), ipam.HubAddress4);

        // 64 addresses - network - broadcast - hub = 61: the pool is full now.
        Assert.Throws<MeshAddressExhaustedException>(() => ipam.Allocate("one-too-many", Ek("extra")));
    }

    [Fact]
    public void Release_QuarantinedAddress_NotReusedUntilQuarantineEnds()
    {
        using var db = OpenDb();
        var store = new LiteDbMeshAddressStore(db);
        var ipam = NewAllocator(db, Prefix, cidr4: "10.99.0.0/30", quarantine: TimeSpan.FromDays(30));
        var ek = Ek("tpm-a");
        var held = ipam.Allocate("n1", ek);
        Assert.Equal(IPAddress.Parse("10.99.0.2"), held.Address4); // the only node address of a /30

        Assert.True(ipam.Release("n1"));
        Assert.False(ipam.Release("n1"));
        Assert.Null(ipam.Find("n1"));

        // Another node arriving with the same interface id (a colliding EK) and wanting the only IPv4 address.
        _clock.Advance(TimeSpan.FromDays(29));
        Assert.Throws<MeshAddressExhaustedException>(() => ipam.Allocate("n2", ek));

        _clock.Advance(TimeSpan.FromDays(1));
        var reused = ipam.Allocate("n2", ek);
        Assert.Equal(held.Address6, reused.Address6);
        Assert.Equal(held.Address4, reused.Address4);
        Assert.Equal("n2", store.FindByInterfaceId(BinaryPrimitives.ReadUInt64BigEndian(ek))!.NodeId);
    }

    [Fact]
    public void Release_QuarantinedInterfaceId_OtherNodeGetsNextCandidate()
    {
        using var db = OpenDb();
        var ipam = NewAllocator(db, Prefix);
        var ek = Ek("shared");
        var first = ipam.Allocate("n1", ek);
        ipam.Release("n1");
        _clock.Advance(TimeSpan.FromDays(1));

        var second = ipam.Allocate("n2", ek);
        Assert.NotEqual(first.Address6, second.Address6);
        Assert.Equal(ipam.Compose6(MeshAddressAllocator.CandidateInterfaceId(ek, 1)), second.Address6);
    }

    [Fact]
    public void Allocate_SameHardwareBackWithinQuarantine_GetsItsAddressBack()
    {
        using var db = OpenDb();
        var ipam = NewAllocator(db, Prefix);
        var first = ipam.Allocate("n1", Ek("a"));
        ipam.Release("n1");
        _clock.Advance(TimeSpan.FromDays(2));
        Assert.Equal(first, ipam.Allocate("n1", Ek("a")));
    }

    [Fact]
    public void PurgeExpired_AfterQuarantine_DeletesReleasedRecords()
    {
        using var db = OpenDb();
        var store = new LiteDbMeshAddressStore(db);
        var ipam = NewAllocator(db, Prefix, quarantine: TimeSpan.FromHours(1));
        ipam.Allocate("n1", Ek("a"));
        ipam.Allocate("n2", Ek("b"));
        ipam.Release("n1");
        Assert.Equal(0, ipam.PurgeExpired());
        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1, ipam.PurgeExpired());
        Assert.Equal("n2", Assert.Single(store.All()).NodeId);
    }
}
