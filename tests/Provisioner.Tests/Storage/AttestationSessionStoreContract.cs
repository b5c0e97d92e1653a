using System.Reflection;
using Kldload.Provisioner.Attestation;
using Kldload.Provisioner.Storage;
using LiteDB;
using Microsoft.Extensions.Time.Testing;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>What <see cref="IAttestationSessionStore"/> promises, whichever database keeps the sessions.</summary>
public abstract class AttestationSessionStoreContract
{
    /// <summary>Millisecond-aligned: LiteDB keeps times to the millisecond.</summary>
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, 250, TimeSpan.Zero));

    protected abstract IAttestationSessionStore Store { get; }

    /// <summary>A second store over the same database, as after a restart.</summary>
    protected abstract IAttestationSessionStore Reopen();

    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    private DateTime Now => Time.GetUtcNow().UtcDateTime;

    [Fact]
    public void Open_NewSession_IsChallengedWithAFreshIdAndNonceForItsLifetime()
    {
        var a = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        var b = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);

        Assert.Matches("^[A-Za-z0-9_-]{24}$", a.Id);
        Assert.NotEqual(a.Id, b.Id);
        Assert.Equal(32, a.Nonce.Length);
        Assert.NotEqual(a.Nonce, b.Nonce);
        Assert.Equal(AttestationSessionState.Challenged, a.State);
        Assert.Equal(Now, a.CreatedAt);
        Assert.Equal(Now + Lifetime, a.ExpiresAt);

        var found = Assert.IsType<AttestationSession>(Store.Find(a.Id, AttestationSessionState.Challenged));
        Assert.Equivalent(a, found, strict: true);
        Assert.Equal(DateTimeKind.Utc, found.CreatedAt.Kind);
        Assert.Equal(DateTimeKind.Utc, found.ExpiresAt.Kind);
    }

    [Fact]
    public void Save_EveryField_RoundTrips()
    {
        var opened = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        var full = FullSession(opened);
        AssertEveryPropertySet(full);

        Store.Save(full);

        var found = Assert.IsType<AttestationSession>(Store.Find(full.Id, AttestationSessionState.Quoted));
        Assert.Equivalent(full, found, strict: true);
        Assert.Equal(DateTimeKind.Utc, found.ExpiresAt.Kind);
    }

    [Fact]
    public void Save_OptionalFieldsCleared_ReadBackAsNull()
    {
        var opened = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        var full = FullSession(opened);
        Store.Save(full);

        var cleared = FullSession(opened);
        foreach (var p in typeof(AttestationSession).GetProperties().Where(p => p.CanWrite && IsNullable(p)))
        {
            p.SetValue(cleared, null);
        }

        Store.Save(cleared);

        var found = Assert.IsType<AttestationSession>(Store.Find(full.Id, AttestationSessionState.Quoted));
        Assert.Equivalent(cleared, found, strict: true);
        Assert.Null(found.Secret);
        Assert.Null(found.SecureBootSigners);
        Assert.Null(found.FirmwarePcrs);
        Assert.Null(found.KernelMeasured);
    }

    [Fact]
    public void Save_EmptyListAndMaps_StayEmptyNotNull()
    {
        var opened = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        opened.SecureBootSigners = [];
        opened.FirmwarePcrs = [];
        Store.Save(opened);

        var found = Assert.IsType<AttestationSession>(Store.Find(opened.Id, AttestationSessionState.Challenged));
        Assert.Empty(Assert.IsType<List<string>>(found.SecureBootSigners));
        Assert.Empty(Assert.IsType<Dictionary<int, string>>(found.FirmwarePcrs));
    }

    [Fact]
    public void Save_UnknownSession_CreatesNothing()
    {
        var stranger = FullSession(new AttestationSession { Id = "not-opened-here", NodeId = "bbbbbbbbbbbb", CreatedAt = Now, ExpiresAt = Now + Lifetime });

        Store.Save(stranger);

        Assert.Null(Store.Find(stranger.Id, AttestationSessionState.Quoted));
        Assert.Null(Store.Take(stranger.Id, AttestationSessionState.Quoted, AttestationSessionState.Activated));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("no-such-session")]
    public void Find_UnknownId_ReturnsNull(string? id)
    {
        Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        Assert.Null(Store.Find(id, AttestationSessionState.Challenged));
        Assert.Null(Store.Take(id, AttestationSessionState.Challenged, AttestationSessionState.Quoted));
    }

    [Fact]
    public void Find_OverLongId_ReturnsNullEvenIfStored()
    {
        var s = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        Assert.Null(Store.Find(s.Id + new string('x', 64), AttestationSessionState.Challenged));
        Assert.Null(Store.Take(new string('x', 65), AttestationSessionState.Challenged, AttestationSessionState.Quoted));
    }

    [Fact]
    public void Find_OtherState_ReturnsNull()
    {
        var s = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        Assert.Null(Store.Find(s.Id, AttestationSessionState.Quoted));
        Assert.NotNull(Store.Find(s.Id, AttestationSessionState.Challenged));
    }

    [Fact]
    public void Find_AtOrAfterExpiry_ReturnsNull()
    {
        var s = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        Time.Advance(Lifetime - TimeSpan.FromMilliseconds(1));
        Assert.NotNull(Store.Find(s.Id, AttestationSessionState.Challenged));

        Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(Store.Find(s.Id, AttestationSessionState.Challenged));
        Assert.Null(Store.Take(s.Id, AttestationSessionState.Challenged, AttestationSessionState.Quoted));
    }

    [Fact]
    public void Take_ExpectedState_MovesOnOnce()
    {
        var s = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);

        var taken = Assert.IsType<AttestationSession>(Store.Take(s.Id, AttestationSessionState.Challenged, AttestationSessionState.Quoted));

        Assert.Equal(AttestationSessionState.Quoted, taken.State);
        Assert.Equal(s.Nonce, taken.Nonce);
        Assert.Null(Store.Take(s.Id, AttestationSessionState.Challenged, AttestationSessionState.Quoted));
        Assert.Null(Store.Find(s.Id, AttestationSessionState.Challenged));
        Assert.NotNull(Store.Find(s.Id, AttestationSessionState.Quoted));
    }

    [Fact]
    public async Task Take_ManyAtOnce_OnlyOneWins()
    {
        var s = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        using var start = new ManualResetEventSlim();

        var takers = Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            start.Wait();
            return Store.Take(s.Id, AttestationSessionState.Challenged, AttestationSessionState.Quoted);
        })).ToList();
        start.Set();
        var results = await Task.WhenAll(takers);

        Assert.Single(results, r => r is not null);
    }

    [Fact]
    public void CloseFor_NodeAndEk_ClosesOnlyTheirOpenSessions()
    {
        var byNode = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        byNode.Secret = [1, 2, 3];
        Store.Save(byNode);
        var byEk = Store.Take(Store.Open("bbbbbbbbbbbb", "tok-b", "52:54:00:00:00:02", Lifetime).Id, AttestationSessionState.Challenged, AttestationSessionState.Quoted)!;
        byEk.EkFingerprint = "ek-1";
        byEk.Secret = [4, 5, 6];
        Store.Save(byEk);
        var done = Store.Take(Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime).Id, AttestationSessionState.Challenged, AttestationSessionState.Activated)!;
        var other = Store.Open("cccccccccccc", "tok-c", "52:54:00:00:00:03", Lifetime);
        other.EkFingerprint = "ek-2";
        Store.Save(other);

        Assert.Equal(2, Store.CloseFor("aaaaaaaaaaaa", "ek-1", "decommissioned"));

        foreach (var id in new[] { byNode.Id, byEk.Id })
        {
            var closed = Assert.IsType<AttestationSession>(Store.Find(id, AttestationSessionState.Failed));
            Assert.Null(closed.Secret);
            Assert.Equal("decommissioned", closed.ClosedBecause);
        }

        Assert.Null(Assert.IsType<AttestationSession>(Store.Find(done.Id, AttestationSessionState.Activated)).ClosedBecause);
        Assert.NotNull(Store.Find(other.Id, AttestationSessionState.Challenged));
        Assert.Equal(0, Store.CloseFor("aaaaaaaaaaaa", "ek-1", "again"));
    }

    [Fact]
    public void CloseFor_NoEk_ClosesByNodeOnly()
    {
        var mine = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        var unfingerprinted = Store.Open("bbbbbbbbbbbb", "tok-b", "52:54:00:00:00:02", Lifetime);

        Assert.Equal(1, Store.CloseFor("aaaaaaaaaaaa", null, "replaced"));

        Assert.NotNull(Store.Find(mine.Id, AttestationSessionState.Failed));
        Assert.NotNull(Store.Find(unfingerprinted.Id, AttestationSessionState.Challenged));
    }

    [Fact]
    public void LastProven_SessionsOfTheEk_NewestActivatedOnTheNodeEvenExpired()
    {
        AttestationSession Proven(string resolvedTo, string facts, AttestationSessionState state = AttestationSessionState.Activated)
        {
            var s = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
            s.State = state;
            s.EkFingerprint = "ek-1";
            s.ResolvedNodeId = resolvedTo;
            s.Facts = facts;
            s.FactsBound = true;
            Store.Save(s);
            Time.Advance(TimeSpan.FromMinutes(1));
            return s;
        }

        Proven("aaaaaaaaaaaa", """{"n":1}""");
        var newest = Proven("aaaaaaaaaaaa", """{"n":2}""");
        Proven("aaaaaaaaaaaa", """{"n":3}""", AttestationSessionState.Quoted); // not proven: activate never passed
        Proven("aaaaaaaaaaaa", """{"n":4}""", AttestationSessionState.Failed);
        Proven("bbbbbbbbbbbb", """{"n":5}"""); // the EK landed on another record

        var found = Assert.IsType<AttestationSession>(Store.LastProven("aaaaaaaaaaaa", "ek-1"));
        Assert.Equal(newest.Id, found.Id);
        Assert.Equal("""{"n":2}""", found.Facts);
        Assert.Null(Store.LastProven("aaaaaaaaaaaa", "ek-2"));
        Assert.Null(Store.LastProven("cccccccccccc", "ek-1"));

        Time.Advance(TimeSpan.FromHours(2));
        Assert.Equal(newest.Id, Store.LastProven("aaaaaaaaaaaa", "ek-1")?.Id);
    }

    [Fact]
    public void DeleteExpired_RemovesOnlySessionsExpiredOverADayAgo()
    {
        Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", TimeSpan.FromMinutes(1));
        Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", TimeSpan.FromDays(1));
        var live = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", TimeSpan.FromDays(3));
        Time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(2));

        Assert.Equal(1, Store.DeleteExpired());
        Assert.Equal(0, Store.DeleteExpired());
        Assert.NotNull(Store.Find(live.Id, AttestationSessionState.Challenged));

        Time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(1, Store.DeleteExpired());
    }

    [Fact]
    public void Reopen_SessionsSurviveARestart()
    {
        var s = Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", Lifetime);
        var full = FullSession(s);
        Store.Save(full);

        var again = Reopen();

        Assert.Equivalent(full, again.Find(s.Id, AttestationSessionState.Quoted), strict: true);
        Assert.NotNull(again.Take(s.Id, AttestationSessionState.Quoted, AttestationSessionState.Activated));
    }

    /// <summary>Every field of <paramref name="opened"/> set to a value unlike its default, as after a quote.</summary>
    internal static AttestationSession FullSession(AttestationSession opened) => new()
    {
        Id = opened.Id,
        NodeId = opened.NodeId,
        BootToken = opened.BootToken,
        Mac = opened.Mac,
        Nonce = opened.Nonce,
        CreatedAt = opened.CreatedAt,
        ExpiresAt = opened.ExpiresAt,
        State = AttestationSessionState.Quoted,
        Secret = [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff],
        EkPublic = [1, 2, 3, 4, 5],
        EkFingerprint = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        EkCertificate = [0x30, 0x82, 0x01, 0x00],
        AkPublic = [6, 7, 8],
        WireGuardPublicKey = [.. Enumerable.Range(0, 32).Select(i => (byte)i)],
        KernelMeasured = false,
        EkAccepted = true,
        Outcome = AttestationOutcome.Quarantine,
        OutcomeReason = "firmware-drift",
        OutcomeDetail = "PCR 0 changed: 00aa to 00bb",
        CommandLineMeasured = true,
        SecureBoot = true,
        SecureBootSigners = ["Microsoft Corporation UEFI CA 2011", "kldload test key"],
        InitrdMeasured = true,
        FirmwarePcrs = new() { [0] = "00aa", [2] = "22bb", [7] = "77cc" },
        ConfigurationPcrs = new() { [1] = "11dd", [10] = "aaee" },
        Drift = "PCR 0: 00aa -> 00bb",
        Facts = """{"cpu":{"cores":8},"memory":17179869184}""",
        FactsBound = true,
        ResolvedNodeId = "dddddddddddd",
        ClosedBecause = "not closed, but set",
    };

    /// <summary>A new field added to the type fails the round trip until the sample (and the stores) carry it.</summary>
    internal static void AssertEveryPropertySet(object sample)
    {
        foreach (var p in sample.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var value = p.GetValue(sample);
            var unset = value is null || (p.PropertyType.IsValueType && Nullable.GetUnderlyingType(p.PropertyType) is null
                && value.Equals(Activator.CreateInstance(p.PropertyType)) && p.PropertyType != typeof(bool));
            Assert.False(unset, $"{sample.GetType().Name}.{p.Name} is left at its default in the round-trip sample");
        }
    }

    private static bool IsNullable(PropertyInfo p) =>
        Nullable.GetUnderlyingType(p.PropertyType) is not null
        || new NullabilityInfoContext().Create(p).WriteState == NullabilityState.Nullable;
}

/// <summary>The contract against LiteDB, in a temporary directory.</summary>
public sealed class LiteDbAttestationSessionStoreTests : AttestationSessionStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-sessions-").FullName;
    private readonly LiteKldloadDatabase _db;

    public LiteDbAttestationSessionStoreTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        Store = new LiteDbAttestationSessionStore(_db, Time);
    }

    protected override IAttestationSessionStore Store { get; }

    protected override IAttestationSessionStore Reopen() => new LiteDbAttestationSessionStore(_db, Time);

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Save_Document_KeepsTheFieldsTheAttributedTypeWrote()
    {
        var s = FullSession(Store.Open("aaaaaaaaaaaa", "tok-a", "52:54:00:00:00:01", TimeSpan.FromMinutes(5)));
        Store.Save(s);

        var doc = _db.Database.GetCollection("attestsessions").FindById(s.Id);

        Assert.Equal(
            ["_id", "NodeId", "BootToken", "Mac", "Nonce", "CreatedAt", "ExpiresAt", "State", "Secret", "EkPublic", "EkFingerprint",
             "EkCertificate", "AkPublic", "WireGuardPublicKey", "KernelMeasured", "EkAccepted", "Outcome", "OutcomeReason", "OutcomeDetail",
             "CommandLineMeasured", "SecureBoot", "SecureBootSigners", "InitrdMeasured", "FirmwarePcrs", "ConfigurationPcrs", "Drift",
             "Facts", "FactsBound", "ResolvedNodeId", "ClosedBecause"],
            doc.Keys.ToArray());
        Assert.Equal("Quoted", doc["State"].AsString);
        Assert.Equal("77cc", doc["FirmwarePcrs"]["7"].AsString);
    }

    [Fact]
    public void Find_DocumentWrittenThroughTheGlobalMapper_Reads()
    {
        // What the typed collection (and EkFingerprintMigration) writes: LiteDB's global mapper.
        var written = FullSession(new AttestationSession { Id = "old-session", NodeId = "aaaaaaaaaaaa", BootToken = "tok", Mac = "52:54:00:00:00:01", Nonce = [9], CreatedAt = DateTime.UtcNow.Date, ExpiresAt = Time.GetUtcNow().UtcDateTime.AddMinutes(1) });
        _db.Database.GetCollection<AttestationSession>("attestsessions").Insert(written);

        Assert.Equivalent(written, Store.Find("old-session", AttestationSessionState.Quoted), strict: true);
    }

    [Fact]
    public void Open_IndexesMadeByTheTypedCollection_AreTheSameIndexes()
    {
        var typed = _db.Database.GetCollection<AttestationSession>("attestsessions");
        typed.EnsureIndex(s => s.ExpiresAt);
        typed.EnsureIndex(s => s.NodeId);
        typed.EnsureIndex(s => s.EkFingerprint);

        _ = new LiteDbAttestationSessionStore(_db, Time);

        var indexes = _db.Database.GetCollection("$indexes").Find(BsonExpression.Create("collection = @0", "attestsessions"))
            .Select(i => $"{i["name"].AsString} {i["expression"].AsString}").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["EkFingerprint $.EkFingerprint", "ExpiresAt $.ExpiresAt", "NodeId $.NodeId", "_id $._id"], indexes);
    }
}

/// <summary>The contract against PostgreSQL, in a fresh database of the test cluster.</summary>
public sealed class PostgresAttestationSessionStoreTests : AttestationSessionStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _connectionString;
    private readonly PostgresKldloadDatabase _db;
    private readonly List<PostgresKldloadDatabase> _reopened = [];

    public PostgresAttestationSessionStoreTests(PostgresFixture cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        _connectionString = cluster.CreateDatabase();
        _db = PostgresKldloadDatabase.Open(_connectionString);
        Store = new PostgresAttestationSessionStore(_db, Time);
    }

    protected override IAttestationSessionStore Store { get; }

    /// <summary>A second database object on the same database, as another process would open it: its migrations are already there.</summary>
    protected override IAttestationSessionStore Reopen()
    {
        var db = PostgresKldloadDatabase.Open(_connectionString);
        _reopened.Add(db);
        return new PostgresAttestationSessionStore(db, Time);
    }

    public void Dispose()
    {
        _reopened.ForEach(db => db.Dispose());
        _db.Dispose();
    }

    [Theory]
    [InlineData(PostgresAttestationSessionStore.FindSql, "attestation_sessions_pkey")]
    [InlineData(PostgresAttestationSessionStore.TakeSql, "attestation_sessions_pkey")]
    [InlineData(PostgresAttestationSessionStore.DeleteExpiredSql, "attestation_sessions_expires_at")]
    [InlineData(PostgresAttestationSessionStore.LastProvenSql, "attestation_sessions_proven_by_ek")]
    public void Lookup_IsAnIndexLookup(string sql, string index)
    {
        var plan = PostgresPlanCheck.Explain(_db, sql,
            ("id", "x"), ("state", "Challenged"), ("next", "Quoted"), ("now", DateTime.UtcNow), ("cutoff", DateTime.UtcNow), ("ek_fingerprint", "ek"), ("node_id", "n"));
        Assert.Contains(index, plan, StringComparison.Ordinal);
        Assert.DoesNotContain("Seq Scan", plan, StringComparison.Ordinal);
    }

    [Fact]
    public void CloseFor_UsesTheOpenSessionIndexes()
    {
        // A day of a busy site: 20,000 sessions of 1,000 nodes, one in 25 still open, statistics taken.
        using (var fill = _db.DataSource.CreateCommand(
            """
            INSERT INTO attestation_sessions (id, node_id, boot_token, mac, nonce, created_at, expires_at, state, ek_fingerprint,
                ek_accepted, outcome, command_line_measured, initrd_measured, facts_bound)
            SELECT 's' || i, 'n' || (i % 1000), 't', 'm', '\x00', now(), now(), CASE WHEN i % 25 = 0 THEN 'Quoted' ELSE 'Activated' END,
                'ek' || (i % 1000), true, 'Admit', true, true, true
            FROM generate_series(1, 20000) AS i;
            ANALYZE attestation_sessions;
            """))
        {
            fill.ExecuteNonQuery();
        }

        var plan = PostgresPlanCheck.Explain(_db, PostgresAttestationSessionStore.CloseForSql,
            ("why", "x"), ("node_id", "n5"), ("ek_fingerprint", "ek5"));
        Assert.Contains("attestation_sessions_open_by_node", plan, StringComparison.Ordinal);
        Assert.Contains("attestation_sessions_open_by_ek", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("Seq Scan", plan, StringComparison.Ordinal);
    }
}
