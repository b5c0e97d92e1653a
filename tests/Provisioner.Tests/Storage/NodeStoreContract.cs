using System.Text.Json;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>What <see cref="INodeStore"/> and <see cref="IProfileStore"/> promise, whichever database keeps them.</summary>
public abstract class NodeStoreContract
{
    /// <summary>A time as both databases keep it (LiteDB keeps milliseconds).</summary>
    protected static readonly DateTime T0 = new(2026, 12, 7, 9, 30, 15, 123, DateTimeKind.Utc);

    protected abstract INodeStore Nodes { get; }

    protected abstract IProfileStore Profiles { get; }

    /// <summary>A record with every member set to something other than its default.</summary>
    internal static NodeRecord FullNode(string id = "0123456789ab") => new()
    {
        Id = id,
        Name = "rack1-node7",
        Macs = ["52:54:00:00:00:07", "52:54:00:00:01:07"],
        Uuid = "00000000-0000-4000-8000-000000000007",
        Serial = "SN-7",
        Manufacturer = "QEMU",
        Product = "Standard PC (Q35 + ICH9, 2009)",
        Architecture = "x86_64",
        Platform = "efi",
        EkPublic = "AAEACwADALIAIINxl2E=",
        EkFingerprint = new string('e', 64),
        EkCertificate = "MIIB",
        EkApproved = true,
        AkPublic = "AAEAAQ==",
        WireGuardPublicKey = "k3V4ZmY0c2J3cmJ2c2J3cmJ2c2J3cmJ2c2J3cmI=",
        MeshAddress = "fd00:6b6c::7",
        MeshAddress4 = "100.64.0.7",
        Profile = "storage",
        BurnInSeconds = 300,
        Channel = "stable",
        PinnedImage = new ImageRef { Name = "debian", Version = "13.1" },
        State = NodeState.Ready,
        StateReason = "attested",
        FirstSeenAt = T0,
        LastSeenAt = T0.AddMinutes(5),
        BootStartedAt = T0.AddMinutes(4),
        LastBootAt = T0.AddMinutes(5),
        LastBootToMeshSeconds = 42.5,
        LastBootedImage = new ImageRef { Name = "debian", Version = "13.0" },
        LastBootedKernelDigest = new string('k', 64),
        LastAttestedImageDigest = new string('i', 64),
        KernelMeasured = true,
        CommandLineMeasured = false,
        SecureBoot = true,
        SecureBootSigners = ["Microsoft UEFI CA 2011", "Debian Secure Boot CA"],
        InitrdMeasured = false,
        PinnedPcrs = new() { [0] = new string('0', 64), [2] = new string('2', 64), [7] = new string('7', 64) },
        ConfigurationPcrs = new() { [1] = new string('1', 64), [5] = new string('5', 64) },
        HardwareFacts = "{\"cpu\":{\"cores\":8},\"memory\":{\"totalGiB\":64}}",
        HardwareFactsBound = true,
        HardwareFactsAt = T0.AddMinutes(5),
        Location = new RelayLocation { CircuitId = "4769312f302f37", RemoteId = "737731" },
        Labels = new() { ["rack"] = "r1", ["role"] = "storage" },
        ReplacedBy = "aaaaaaaaaaaa",
        Replaces = "bbbbbbbbbbbb",
        RepinPending = true,
        Epoch = 4_000_000_000,
        MeshIdentity = "cccccccccccc",
        PowerState = "On",
        PowerStateAt = T0.AddMinutes(6),
    };

    private static NodeRecord Node(string id, string name, NodeState state = NodeState.Discovered, DateTime? seen = null, params string[] macs) => new()
    {
        Id = id,
        Name = name,
        Macs = [.. macs],
        State = state,
        FirstSeenAt = seen ?? T0,
        LastSeenAt = seen ?? T0,
    };

    private static NodeEvent Event(string nodeId, string message, NodeEventKind kind = NodeEventKind.Dhcp) =>
        new() { NodeId = nodeId, At = T0, Kind = kind, Message = message };

    /// <summary>Every member, as JSON, so that a difference names the member.</summary>
    private static string Json(object value) => JsonSerializer.Serialize(value, new JsonSerializerOptions { WriteIndented = true });

    [Fact]
    public void Upsert_FullRecord_GetReturnsEveryMemberAsStored()
    {
        var node = FullNode();
        Nodes.Upsert(node);

        var read = Nodes.Get(node.Id)!;

        Assert.Equal(Json(node), Json(read));
        Assert.Equal(DateTimeKind.Utc, read.FirstSeenAt.Kind);
        Assert.Equal(DateTimeKind.Utc, read.PowerStateAt!.Value.Kind);
        Assert.Equal("cccccccccccc", read.EffectiveMeshIdentity);
    }

    [Fact]
    public void Upsert_MinimalRecord_GetReturnsNullsAndEmptiesAsStored()
    {
        var node = new NodeRecord { Id = "000000000001", Name = "n1", FirstSeenAt = T0, LastSeenAt = T0 };
        Nodes.Upsert(node);

        var read = Nodes.Get("000000000001")!;

        Assert.Equal(Json(node), Json(read));
        Assert.Null(read.PinnedPcrs);
        Assert.Null(read.SecureBootSigners);
        Assert.Empty(read.Labels);
        Assert.Empty(read.Macs);
        Assert.Equal("000000000001", read.EffectiveMeshIdentity);
    }

    [Fact]
    public void Upsert_LocalTime_IsKeptAsTheSameInstantInUtc()
    {
        var local = new DateTime(2026, 12, 7, 11, 0, 0, DateTimeKind.Local);
        Nodes.Upsert(new NodeRecord { Id = "000000000001", Name = "n1", FirstSeenAt = local, LastSeenAt = local });

        var read = Nodes.Get("000000000001")!;

        Assert.Equal(local.ToUniversalTime(), read.FirstSeenAt);
        Assert.Equal(DateTimeKind.Utc, read.FirstSeenAt.Kind);
    }

    [Fact]
    public void Lookups_UnknownKeys_FindNothing()
    {
        Nodes.Upsert(FullNode());

        Assert.Null(Nodes.Get("ffffffffffff"));
        Assert.Null(Nodes.FindByMac("52:54:00:ff:ff:ff"));
        Assert.Null(Nodes.FindByUuid("00000000-0000-4000-8000-00000000ffff"));
        Assert.Null(Nodes.FindByName("nobody"));
        Assert.Empty(Nodes.FindByEkFingerprint(new string('f', 64)));
        Assert.Equal(0, Nodes.Count(NodeState.Quarantined));
    }

    [Fact]
    public void Upsert_ExistingId_ReplacesTheRecordAndItsLookups()
    {
        Nodes.Upsert(Node("000000000001", "old-name", NodeState.Discovered, null, "52:54:00:00:00:01"));
        Nodes.Upsert(Node("000000000001", "new-name", NodeState.Ready, null, "52:54:00:00:00:02"));

        Assert.Single(Nodes.List());
        Assert.Equal("new-name", Nodes.Get("000000000001")!.Name);
        Assert.Null(Nodes.FindByMac("52:54:00:00:00:01"));
        Assert.Null(Nodes.FindByName("old-name"));
        Assert.Equal("000000000001", Nodes.FindByMac("52:54:00:00:00:02")!.Id);
        Assert.Equal(0, Nodes.Count(NodeState.Discovered));
        Assert.Equal(1, Nodes.Count(NodeState.Ready));
    }

    [Fact]
    public void FindByMac_AnyOfTheNodesMacs_FindsIt()
    {
        Nodes.Upsert(FullNode());
        Nodes.Upsert(Node("000000000002", "other", NodeState.Discovered, null, "52:54:00:00:00:08"));

        Assert.Equal("0123456789ab", Nodes.FindByMac("52:54:00:00:00:07")!.Id);
        Assert.Equal("0123456789ab", Nodes.FindByMac("52:54:00:00:01:07")!.Id);
        Assert.Equal("000000000002", Nodes.FindByMac("52:54:00:00:00:08")!.Id);
    }

    [Fact]
    public void FindByMac_ReplacedRecordSharesTheMac_ReturnsTheLiveOneEvenIfSeenEarlier()
    {
        const string mac = "52:54:00:00:00:01";
        Nodes.Upsert(Node("000000000001", "old", NodeState.Replaced, T0.AddHours(1), mac));
        Assert.Equal("000000000001", Nodes.FindByMac(mac)!.Id);

        Nodes.Upsert(Node("000000000002", "new", NodeState.Discovered, T0, mac));
        Assert.Equal("000000000002", Nodes.FindByMac(mac)!.Id);
    }

    [Fact]
    public void FindByMac_TwoLiveRecords_ReturnsTheOneSeenLast()
    {
        const string mac = "52:54:00:00:00:01";
        Nodes.Upsert(Node("000000000001", "a", NodeState.Ready, T0.AddMinutes(2), mac));
        Nodes.Upsert(Node("000000000002", "b", NodeState.Discovered, T0.AddMinutes(1), mac));

        Assert.Equal("000000000001", Nodes.FindByMac(mac)!.Id);
    }

    [Fact]
    public void FindByUuidNameAndEk_FindTheirNodes()
    {
        var node = FullNode();
        Nodes.Upsert(node);
        var twin = Node("000000000002", "twin", NodeState.Replaced);
        twin.EkFingerprint = node.EkFingerprint;
        Nodes.Upsert(twin);
        Nodes.Upsert(Node("000000000003", "third"));

        Assert.Equal(node.Id, Nodes.FindByUuid(node.Uuid!)!.Id);
        Assert.Equal(node.Id, Nodes.FindByName("rack1-node7")!.Id);
        Assert.Equal(["000000000002", node.Id], Nodes.FindByEkFingerprint(node.EkFingerprint!).Select(n => n.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Count_CountsEachState()
    {
        Nodes.Upsert(Node("000000000001", "a", NodeState.Discovered));
        Nodes.Upsert(Node("000000000002", "b", NodeState.Discovered));
        Nodes.Upsert(Node("000000000003", "c", NodeState.Ready));

        Assert.Equal(2, Nodes.Count(NodeState.Discovered));
        Assert.Equal(1, Nodes.Count(NodeState.Ready));
        Assert.Equal(0, Nodes.Count(NodeState.Attested));
    }

    [Fact]
    public void List_IsInOrdinalOrderOfName()
    {
        Nodes.Upsert(Node("000000000001", "b"));
        Nodes.Upsert(Node("000000000002", "a"));
        Nodes.Upsert(Node("000000000003", "B"));
        Nodes.Upsert(Node("000000000004", "a-2"));

        Assert.Equal(["B", "a", "a-2", "b"], Nodes.List().Select(n => n.Name));
    }

    [Fact]
    public void Append_AssignsIncreasingSequenceNumbers_AndEventsReadsANodesHistoryOldestFirst()
    {
        var first = Nodes.Append(new NodeEvent { Id = 99, NodeId = "000000000001", At = T0, Kind = NodeEventKind.Attestation, Message = "quoted", Actor = "node", Reason = "ek-unknown" });
        var other = Nodes.Append(Event("000000000002", "other node"));
        var second = Nodes.Append(new NodeEvent { NodeId = "000000000001", At = T0.AddSeconds(1), Kind = NodeEventKind.Operator, Message = "approved", Actor = "alice" });

        Assert.True(first.Id > 0);
        Assert.True(other.Id > first.Id);
        Assert.True(second.Id > other.Id);
        var history = Nodes.Events("000000000001");
        Assert.Equal([first.Id, second.Id], history.Select(e => e.Id));
        Assert.Equal(Json(first), Json(history[0]));
        Assert.Equal(Json(second), Json(history[1]));
        Assert.Null(history[1].Reason);
        Assert.Empty(Nodes.Events("ffffffffffff"));
    }

    [Fact]
    public void EventsAfter_ReturnsLaterEventsOfEveryNodeInOrder_UpToTheLimit()
    {
        var ids = Enumerable.Range(0, 6).Select(i => Nodes.Append(Event($"00000000000{i % 2}", $"e{i}")).Id).ToList();

        Assert.Equal(ids, Nodes.EventsAfter(0, 100).Select(e => e.Id));
        Assert.Equal(ids.Skip(2).Take(3), Nodes.EventsAfter(ids[1], 3).Select(e => e.Id));
        Assert.Equal(["e5"], Nodes.EventsAfter(ids[4], 100).Select(e => e.Message));
        Assert.Empty(Nodes.EventsAfter(ids[5], 100));
    }

    [Fact]
    public void DeleteStaleDiscovered_RemovesOnlyStaleUnattestedDiscoveredNodes_WithTheirHistory()
    {
        var cutoff = T0.AddDays(1);
        Nodes.Upsert(Node("000000000001", "stale"));
        var attested = Node("000000000002", "has-ek");
        attested.EkFingerprint = new string('a', 64);
        Nodes.Upsert(attested);
        Nodes.Upsert(Node("000000000003", "recent", NodeState.Discovered, cutoff.AddMinutes(1)));
        Nodes.Upsert(Node("000000000004", "ready", NodeState.Ready));
        var seenAgain = Node("000000000005", "seen-again");
        seenAgain.LastSeenAt = cutoff.AddMinutes(1);
        Nodes.Upsert(seenAgain);
        Nodes.Append(Event("000000000001", "stale's"));
        var kept = Nodes.Append(Event("000000000002", "kept"));

        Assert.Equal(1, Nodes.DeleteStaleDiscovered(cutoff, 100));

        Assert.Null(Nodes.Get("000000000001"));
        Assert.Empty(Nodes.Events("000000000001"));
        Assert.Equal(["000000000002", "000000000003", "000000000004", "000000000005"], Nodes.List().Select(n => n.Id).Order(StringComparer.Ordinal));
        Assert.Equal(kept.Id, Assert.Single(Nodes.EventsAfter(0, 100)).Id);
    }

    [Fact]
    public void DeleteStaleDiscovered_RemovesAtMostTheLimit()
    {
        for (var i = 0; i < 5; i++)
        {
            Nodes.Upsert(Node($"00000000000{i}", $"n{i}"));
        }

        Assert.Equal(3, Nodes.DeleteStaleDiscovered(T0.AddDays(1), 3));
        Assert.Equal(2, Nodes.Count(NodeState.Discovered));
        Assert.Equal(2, Nodes.DeleteStaleDiscovered(T0.AddDays(1), 3));
        Assert.Empty(Nodes.List());
    }

    [Fact]
    public void InTransaction_WorkReturns_CommitsEveryWriteAndReturnsItsResult()
    {
        var result = Nodes.InTransaction(() =>
        {
            Nodes.Upsert(Node("000000000001", "a"));
            Nodes.Append(Event("000000000001", "seen"));
            return 7;
        });

        Assert.Equal(7, result);
        Assert.NotNull(Nodes.Get("000000000001"));
        Assert.Single(Nodes.Events("000000000001"));
    }

    [Fact]
    public void InTransaction_WorkThrows_NoneOfItsWritesRemain()
    {
        Nodes.Upsert(Node("000000000001", "before"));

        Assert.Throws<InvalidOperationException>(() => Nodes.InTransaction<int>(() =>
        {
            Nodes.Upsert(Node("000000000001", "changed"));
            Nodes.Upsert(Node("000000000002", "new"));
            Nodes.Append(Event("000000000001", "lost"));
            Assert.Equal("changed", Nodes.Get("000000000001")!.Name);
            throw new InvalidOperationException("refused");
        }));

        Assert.Equal("before", Nodes.Get("000000000001")!.Name);
        Assert.Null(Nodes.Get("000000000002"));
        Assert.Empty(Nodes.EventsAfter(0, 100));
    }

    [Fact]
    public void InTransaction_Nested_JoinsTheOuterTransaction()
    {
        Assert.Throws<InvalidOperationException>(() => Nodes.InTransaction<int>(() =>
        {
            Nodes.InTransaction(() =>
            {
                Nodes.Upsert(Node("000000000001", "inner"));
                return 0;
            });
            throw new InvalidOperationException("outer fails after the inner returned");
        }));

        Assert.Null(Nodes.Get("000000000001"));
    }

    [Fact]
    public void InTransaction_AfterARolledBackOne_WritesAgain()
    {
        Assert.Throws<InvalidOperationException>(() => Nodes.InTransaction<int>(() => throw new InvalidOperationException("x")));

        Nodes.InTransaction(() =>
        {
            Nodes.Upsert(Node("000000000001", "a"));
            return 0;
        });
        Nodes.Upsert(Node("000000000002", "b"));

        Assert.Equal(2, Nodes.List().Count);
    }

    [Fact]
    public void Profiles_Upsert_GetReturnsEveryMemberAsStored()
    {
        var profile = new Profile
        {
            Name = "storage",
            Priority = 10,
            Match = new ProfileMatch
            {
                Macs = ["52:54:00:00:00:07"],
                Uuids = ["00000000-0000-4000-8000-000000000007"],
                Serials = ["SN-7"],
                CircuitIds = ["4769312f302f37"],
                RemoteIds = ["737731"],
                Labels = new() { ["role"] = "storage" },
                Facts = ["facts.memory.totalGiB >= 256"],
            },
            Channel = "stable",
            Image = new ImageRef { Name = "debian", Version = "13.1" },
            KernelArgs = "console=ttyS0",
            Loader = BootLoaderKind.Grub,
            RequireSecureBoot = true,
            EnrollmentPolicy = "Approve",
            Commission = new Commission { BurnIn = "5m" },
            Install = new ProfileInstall { Target = ProfileInstall.ZfsRoot, Disks = new InstallDisks { Paths = ["/dev/vda", "/dev/disk/by-id/nvme-SN7"] } },
        };
        Profiles.Upsert(profile);

        var read = Profiles.Get("storage")!;

        Assert.Equal(Json(profile), Json(read));
        Assert.Equal(300, read.Commission!.BurnInSeconds);
        Assert.Equal(["/dev/vda", "/dev/disk/by-id/nvme-SN7"], read.Install!.Disks!.Paths);
    }

    [Fact]
    public void Profiles_MinimalProfile_RoundTripsItsNulls()
    {
        var profile = new Profile { Name = "empty" };
        Profiles.Upsert(profile);

        var read = Profiles.Get("empty")!;

        Assert.Equal(Json(profile), Json(read));
        Assert.True(read.Match.IsEmpty);
    }

    [Fact]
    public void Profiles_ListByPriorityThenName_UpsertReplaces_DeleteRemoves()
    {
        Profiles.Upsert(new Profile { Name = "b", Priority = 1 });
        Profiles.Upsert(new Profile { Name = "a", Priority = 1 });
        Profiles.Upsert(new Profile { Name = "C", Priority = 1 });
        Profiles.Upsert(new Profile { Name = "z", Priority = 5 });
        Assert.Equal(["z", "C", "a", "b"], Profiles.List().Select(p => p.Name));

        Profiles.Upsert(new Profile { Name = "z", Priority = 0, Channel = "edge" });
        Assert.Equal(["C", "a", "b", "z"], Profiles.List().Select(p => p.Name));
        Assert.Equal("edge", Profiles.Get("z")!.Channel);

        Assert.True(Profiles.Delete("a"));
        Assert.False(Profiles.Delete("a"));
        Assert.Null(Profiles.Get("a"));
        Assert.Equal(3, Profiles.List().Count);
    }
}

public sealed class LiteDbNodeStoreTests : NodeStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-nodestore-").FullName;
    private readonly LiteKldloadDatabase _db;
    private readonly LiteDbNodeStore _store;

    public LiteDbNodeStoreTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        _store = new LiteDbNodeStore(_db);
    }

    protected override INodeStore Nodes => _store;

    protected override IProfileStore Profiles => _store;

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

public sealed class PostgresNodeStoreTests : NodeStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _connectionString;
    private readonly PostgresKldloadDatabase _db;
    private readonly PostgresNodeStore _store;

    public PostgresNodeStoreTests(PostgresFixture postgres)
    {
        ArgumentNullException.ThrowIfNull(postgres);
        _connectionString = postgres.CreateDatabase();
        _db = PostgresKldloadDatabase.Open(_connectionString);
        _store = new PostgresNodeStore(_db);
    }

    protected override INodeStore Nodes => _store;

    protected override IProfileStore Profiles => _store;

    public void Dispose() => _db.Dispose();

    [Fact]
    public void SecondInstance_OnTheSameDatabase_SeesTheSameNodesAndContinuesTheSequence()
    {
        Nodes.Upsert(FullNode());
        var first = Nodes.Append(new NodeEvent { NodeId = "0123456789ab", At = T0, Message = "a" });

        using var other = PostgresKldloadDatabase.Open(_connectionString);
        var second = new PostgresNodeStore(other);

        Assert.Equal("rack1-node7", second.FindByMac("52:54:00:00:00:07")!.Name);
        Assert.True(second.Append(new NodeEvent { NodeId = "0123456789ab", At = T0, Message = "b" }).Id > first.Id);
        Assert.Equal(2, other.SchemaVersion("inventory"));
    }

    public static TheoryData<string, string, object> BootPathLookups() => new()
    {
        { "id", PostgresNodeStore.SelectById, "000000000007" },
        { "mac", PostgresNodeStore.SelectByMac, "52:54:00:00:00:07" },
        { "uuid", PostgresNodeStore.SelectByUuid, "00000000-0000-4000-8000-000000000007" },
        { "name", PostgresNodeStore.SelectByName, "node-7" },
        { "fingerprint", PostgresNodeStore.SelectByEkFingerprint, new string('7', 64) },
        { "state", PostgresNodeStore.CountByState, nameof(NodeState.Discovered) },
    };

    /// <summary>
    /// With sequential scans priced out, the planner still picks one when no index can serve the
    /// query: a plan without "Seq Scan" proves an index lookup serves it.
    /// </summary>
    [Theory]
    [MemberData(nameof(BootPathLookups))]
    public void BootPathLookup_QueryPlan_UsesAnIndex(string parameter, string sql, object value)
    {
        for (var i = 0; i < 200; i++)
        {
            Nodes.Upsert(new NodeRecord
            {
                Id = $"{i:x12}",
                Name = $"node-{i}",
                Macs = [$"52:54:00:00:{i / 256:x2}:{i % 256:x2}"],
                Uuid = $"00000000-0000-4000-8000-{i:x12}",
                EkFingerprint = new string((char)('0' + (i % 10)), 64),
                State = i % 2 == 0 ? NodeState.Discovered : NodeState.Ready,
                FirstSeenAt = T0,
                LastSeenAt = T0,
            });
        }

        using var connection = _db.DataSource.OpenConnection();
        using (var analyze = new Npgsql.NpgsqlCommand("ANALYZE nodes; SET enable_seqscan = off", connection))
        {
            analyze.ExecuteNonQuery();
        }

        using var explain = new Npgsql.NpgsqlCommand("EXPLAIN " + sql, connection);
        explain.Parameters.AddWithValue(parameter, value);
        using var reader = explain.ExecuteReader();
        var plan = new List<string>();
        while (reader.Read())
        {
            plan.Add(reader.GetString(0));
        }

        var text = string.Join('\n', plan);
        Assert.DoesNotContain("Seq Scan", text, StringComparison.Ordinal);
        Assert.Contains("Index", text, StringComparison.Ordinal);
    }

    [Fact]
    public void InTransaction_OfAnotherDatabase_DoesNotCarryThisStoresWrites()
    {
        using var other = PostgresKldloadDatabase.Open(_connectionString);
        var second = new PostgresNodeStore(other);

        Assert.Throws<InvalidOperationException>(() => second.InTransaction<int>(() =>
        {
            Nodes.Upsert(new NodeRecord { Id = "000000000001", Name = "outside", FirstSeenAt = T0, LastSeenAt = T0 });
            throw new InvalidOperationException("the other database's work fails");
        }));

        // The write went through this store's own database, in no transaction of the other: it stays.
        Assert.NotNull(second.Get("000000000001"));
    }
}
