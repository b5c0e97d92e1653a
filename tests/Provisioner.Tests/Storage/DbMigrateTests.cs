using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.Dhcp.Dhcp6.Leases;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Attestation;
using Kldload.Provisioner.Cli;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Power;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;
using Kldload.Provisioner.Tests.Attestation;
using Npgsql;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// <c>kldload db migrate</c> through the real command line: a LiteDB data directory written by a real
/// host (images, a swtpm node, leases, tokens, ...) moved into a fresh database of the test cluster,
/// checked store by store, and served from there by the same node.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class DbMigrateTests(PostgresFixture postgres, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-migrate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Migrate_SiteWithAttestedNodeImagesAndLeases_EveryKindMatchesAndTheNodeReattestsAsItself()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:d0:00:01";
        JsonElement before;
        var host = await StartAsync();
        await using (host.ConfigureAwait(false))
        {
            await HostImages.ImportLiveAsync(host, "1");
            await HostImages.ImportLiveAsync(host, "2");
            Assert.True((await host.Admin.PostAsync(new Uri("/api/v1/channels/stable/rollback", UriKind.Relative), null)).IsSuccessStatusCode);
            await Agent.AttestAsync(host.Http, tpm, await Agent.BootTokenAsync(host.Http, mac), mac);
            await Agent.BootTokenAsync(host.Http, "52:54:00:d0:00:02"); // a second node, only discovered
            before = await host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
            Assert.Equal("Ready", before.GetProperty("state").GetString());
        }

        SeedTheRest();
        var target = postgres.CreateDatabase();
        var (code, stdout, stderr) = await InProcessCli.RunAsync("db", "migrate", "--from", $"litedb:{_dir}", "--to", Uri(target));
        Assert.True(code == 0, stderr + stdout);
        Assert.DoesNotContain("MISMATCH", stdout, StringComparison.Ordinal);
        Assert.Contains("Database:Provider = PostgreSql", stdout, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^nodes\s+2\s+2\s+match [0-9a-f]{16}$", stdout);
        Assert.Matches(@"(?m)^DHCPv6 leases\s+2\s+2\s+match [0-9a-f]{16}$", stdout);

        // Every kind holds something, and each store reads back through PostgreSQL what LiteDB returns.
        var source = SiteSnapshot.FromDataDirectory(_dir);
        using (var pg = PostgresKldloadDatabase.Open(target))
        {
            var copied = SiteSnapshot.FromPostgres(pg);
            foreach (var (kind, count, _) in source.Summary())
            {
                Assert.True(count > 0, $"the test site holds no {kind}");
            }

            Assert.Equal(source.Summary(), copied.Summary());
            AssertSame(source.Nodes.OrderBy(n => n.Id, StringComparer.Ordinal), copied.Nodes.OrderBy(n => n.Id, StringComparer.Ordinal));
            Assert.Equal(source.Events.Select(e => e.Id), copied.Events.Select(e => e.Id));
            AssertSame(source.Events, copied.Events);
            Assert.Equal(source.Leases.Select(l => l.Address).Order(), copied.Leases.Select(l => l.Address).Order());
            AssertSame(source.Leases6.OrderBy(l => l.Iaid), copied.Leases6.OrderBy(l => l.Iaid));
            AssertSame(source.Manifests.OrderBy(m => m.Version, StringComparer.Ordinal), copied.Manifests.OrderBy(m => m.Version, StringComparer.Ordinal));
            Assert.Equal(source.ChannelHistory["stable"].Select(e => (e.Action, e.To)), copied.ChannelHistory["stable"].Select(e => (e.Action, e.To)));
            Assert.Equal("sealed-as-stored", new PostgresBmcStore(pg).Get(source.Nodes[0].Id)!.SealedPassword);
            Assert.True(new PostgresRevokedEkStore(pg).IsRevoked("ab12", out var why) && why == "lost");

            // The copied histories continue after their ids: a new event and new facts get the next ones.
            var nodes = new PostgresNodeStore(pg);
            var next = nodes.Append(new NodeEvent { NodeId = source.Nodes[0].Id, At = DateTime.UtcNow, Kind = NodeEventKind.Operator, Message = "after", Actor = "test" });
            Assert.Equal(source.Events.Max(e => e.Id) + 1, next.Id);
            var facts = new PostgresHardwareFactsStore(pg).Append(new HardwareFactsRecord { NodeId = source.Nodes[0].Id, At = DateTime.UtcNow, SessionId = "s", Facts = "{}" });
            Assert.Equal(source.Facts.Max(f => f.Id) + 1, facts.Id);
        }

        // The same data directory served from PostgreSQL: the node boots and attests as itself.
        host = await StartAsync("--Database:Provider=PostgreSql", $"--Database:ConnectionString={target}");
        await using (host.ConfigureAwait(false))
        {
            await Agent.AttestAsync(host.Http, tpm, await Agent.BootTokenAsync(host.Http, mac), mac);
            var after = await host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
            Assert.Equal("Ready", after.GetProperty("state").GetString());
            var id = before.GetProperty("id").GetString()!;
            Assert.Equal(id, after.GetProperty("id").GetString());
            Assert.Equal(before.GetProperty("meshAddress").GetString(), after.GetProperty("meshAddress").GetString());
            Assert.Equal(before.GetProperty("wireguardPublicKey").GetString(), after.GetProperty("wireguardPublicKey").GetString());
            Assert.Single(host.Service<Kldload.MeshCA.Addressing.IMeshAddressStore>().FindByNode(id));
            Assert.Equal(2, host.Service<INodeStore>().List().Count);
        }
    }

    [Fact]
    public async Task Migrate_TargetHoldingKldloadData_RefusedNamingTheTableAndLeftUnchanged()
    {
        SeedSmallSite();
        var target = postgres.CreateDatabase();
        var first = await InProcessCli.RunAsync("db", "migrate", "--from", $"litedb:{_dir}", "--to", target, "--json");
        Assert.True(first.Code == 0, first.Stderr);
        Assert.True(JsonDocument.Parse(first.Stdout).RootElement.GetProperty("ok").GetBoolean());
        var counts = Counts(target);

        var again = await InProcessCli.RunAsync("db", "migrate", "--from", $"litedb:{_dir}", "--to", target);
        Assert.Equal(ExitCodes.Failed, again.Code);
        Assert.Contains("already holds kldload data (table nodes, node_events", again.Stderr, StringComparison.Ordinal);
        Assert.Equal(counts, Counts(target));

        var replaced = await InProcessCli.RunAsync("db", "migrate", "--from", $"litedb:{_dir}", "--to", target, "--replace");
        Assert.True(replaced.Code == 0, replaced.Stderr);
        Assert.Equal(counts, Counts(target));
    }

    [Fact]
    public async Task Migrate_DataDirectoryHeldByAServer_RefusedAndNothingWritten()
    {
        SeedSmallSite();
        var target = postgres.CreateDatabase();
        using (var held = DataDirectoryLock.TryAcquire(_dir))
        {
            Assert.NotNull(held);
            var (code, _, stderr) = await InProcessCli.RunAsync("db", "migrate", "--from", $"litedb:{_dir}", "--to", target);
            Assert.Equal(ExitCodes.Failed, code);
            Assert.Contains("stop kldload serve there first", stderr, StringComparison.Ordinal);
        }

        Assert.All(Counts(target).Values, n => Assert.Equal(0, n));
    }

    [Fact]
    public async Task Migrate_TableRejectingARowMidCopy_TargetLeftEmpty()
    {
        SeedSmallSite();
        var target = postgres.CreateDatabase();
        using (var pg = PostgresKldloadDatabase.Open(target))
        {
            // The last table the copy fills refuses every row: everything written before it must go too.
            _ = new PostgresLease6Store(pg);
            using var reject = pg.CreateCommand("ALTER TABLE dhcp6_leases ADD CONSTRAINT test_reject CHECK (false)");
            reject.ExecuteNonQuery();
        }

        var (code, _, stderr) = await InProcessCli.RunAsync("db", "migrate", "--from", $"litedb:{_dir}", "--to", target);
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains("nothing was written", stderr, StringComparison.Ordinal);
        Assert.Contains("test_reject", stderr, StringComparison.Ordinal);
        Assert.All(Counts(target), c => Assert.True(c.Value == 0, $"{c.Key} holds {c.Value} rows"));
    }

    [Fact]
    public async Task Migrate_TargetThatChangesARowOnTheWayIn_MismatchReportedAndTargetEmptiedAgain()
    {
        SeedSmallSite();
        var target = postgres.CreateDatabase();
        using (var pg = PostgresKldloadDatabase.Open(target))
        {
            // A trigger rewrites every event's message: the copy commits, and the read-back differs.
            _ = new PostgresNodeStore(pg);
            using var trigger = pg.CreateCommand(
                """
                CREATE FUNCTION test_tamper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.message := 'tampered'; RETURN NEW; END $$;
                CREATE TRIGGER test_tamper BEFORE INSERT ON node_events FOR EACH ROW EXECUTE FUNCTION test_tamper();
                """);
            trigger.ExecuteNonQuery();
        }

        var (code, stdout, stderr) = await InProcessCli.RunAsync("db", "migrate", "--from", $"litedb:{_dir}", "--to", target);
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Matches(@"(?m)^node events\s+2\s+2\s+MISMATCH$", stdout);
        Assert.Matches(@"(?m)^nodes\s+2\s+2\s+match ", stdout);
        Assert.Contains("emptied again", stderr, StringComparison.Ordinal);
        Assert.All(Counts(target), c => Assert.True(c.Value == 0, $"{c.Key} holds {c.Value} rows"));
    }

    [Fact]
    public async Task Migrate_SiteWithTwentyThousandEventsAndTenThousandLeases_MovesWholeAndMatches()
    {
        using (var db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db")))
        {
            var nodes = new LiteDbNodeStore(db);
            nodes.InTransaction(() =>
            {
                for (var n = 0; n < 1000; n++)
                {
                    var id = $"node-{n:D4}";
                    nodes.Upsert(new NodeRecord { Id = id, Name = id, Macs = [$"52:54:00:e0:{n / 256:x2}:{n % 256:x2}"], FirstSeenAt = DateTime.UtcNow, LastSeenAt = DateTime.UtcNow });
                    for (var e = 0; e < 20; e++)
                    {
                        nodes.Append(new NodeEvent { NodeId = id, At = DateTime.UtcNow, Kind = NodeEventKind.Dhcp, Message = $"offer {e}", Actor = "dhcp" });
                    }
                }

                return 0;
            });
        }

        using (var leases = LiteDbLeaseStore.Open(Path.Combine(_dir, "leases.db")))
        {
            for (var n = 0u; n < 10_000; n++)
            {
                leases.Save(new DhcpLease { Address = new Ipv4Address(0x0A100000u + n), ClientId = $"hw:{n:x12}", HardwareAddress = $"52:54:00:{n >> 16:x2}:{(n >> 8) & 0xff:x2}:{n & 0xff:x2}", State = DhcpLeaseState.Active, Expires = DateTimeOffset.FromUnixTimeMilliseconds(1_900_000_000_000) });
            }

            leases.Flush();
        }

        var target = postgres.CreateDatabase();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, stdout, stderr) = await InProcessCli.RunAsync("db", "migrate", "--from", $"litedb:{_dir}", "--to", target);
        output.WriteLine($"migrated 1,000 nodes, 20,000 events, 10,000 leases (copy and read-back check) in {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(code == 0, stderr + stdout);
        Assert.Matches(@"(?m)^node events\s+20000\s+20000\s+match ", stdout);
        Assert.Matches(@"(?m)^DHCPv4 leases\s+10000\s+10000\s+match ", stdout);
        Assert.Equal(20_000, Counts(target)["node_events"]);
    }

    [Fact]
    public void CanonicalText_SameRecordFromEitherProvider_EqualAndAnyFieldChangeShows()
    {
        var at = new DateTime(2026, 12, 7, 19, 0, 0, DateTimeKind.Utc);
        NodeRecord Node(Action<NodeRecord> change)
        {
            var node = new NodeRecord { Id = "n1", Name = "a", Macs = ["52:54:00:00:00:01"], FirstSeenAt = at, LastSeenAt = at, Labels = new() { ["b"] = "2", ["a"] = "1" } };
            change(node);
            return node;
        }

        var text = CanonicalRecords.Text(Node(_ => { }));
        Assert.Equal(text, CanonicalRecords.Text(Node(n => n.Labels = new() { ["a"] = "1", ["b"] = "2" })));
        Assert.Equal(text, CanonicalRecords.Text(Node(n => n.LastSeenAt = DateTime.SpecifyKind(at, DateTimeKind.Unspecified))));
        Assert.NotEqual(text, CanonicalRecords.Text(Node(n => n.Name = "b")));
        Assert.NotEqual(text, CanonicalRecords.Text(Node(n => n.LastSeenAt = at.AddTicks(10))));
        Assert.NotEqual(text, CanonicalRecords.Text(Node(n => n.Macs = ["52:54:00:00:00:02"])));
        Assert.NotEqual(text, CanonicalRecords.Text(Node(n => n.Labels["a"] = "x")));
        Assert.NotEqual(
            CanonicalRecords.Text(new DhcpLease { Address = new Ipv4Address(1), ClientId = "c", HardwareAddress = "h", State = DhcpLeaseState.Active, Expires = DateTimeOffset.UnixEpoch }),
            CanonicalRecords.Text(new DhcpLease { Address = new Ipv4Address(2), ClientId = "c", HardwareAddress = "h", State = DhcpLeaseState.Active, Expires = DateTimeOffset.UnixEpoch }));
        // The order records come in does not count; their keys order them.
        Assert.Equal(CanonicalRecords.Digest(["x", "y"], v => v), CanonicalRecords.Digest(["y", "x"], v => v));
        Assert.NotEqual(CanonicalRecords.Digest(["x", "y"], v => v), CanonicalRecords.Digest(["x", "z"], v => v));
    }

    [Fact]
    public async Task Migrate_ToFileReadableByOthers_RefusedAsUsage()
    {
        SeedSmallSite();
        var file = Path.Combine(_dir, "db.conn");
        await File.WriteAllTextAsync(file, Uri(postgres.CreateDatabase()) + "\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var refused = await InProcessCli.RunAsync("db", "migrate", "--from", $"litedb:{_dir}", "--to-file", file);
        Assert.Equal(ExitCodes.BadSettings, refused.Code);
        Assert.Contains("chmod 600", refused.Stderr, StringComparison.Ordinal);

        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var done = await InProcessCli.RunAsync("db", "migrate", "--from", $"litedb:{_dir}", "--to-file", file);
        Assert.True(done.Code == 0, done.Stderr);
    }

    [Theory]
    [InlineData("postgres://kl:p%40ss%3Bword@db.example:6543/kldload?sslmode=require", "db.example", 6543, "kldload", "kl", "p@ss;word")]
    [InlineData("postgresql://kl@10.0.0.5/site", "10.0.0.5", 5432, "site", "kl", null)]
    [InlineData("postgres://[fd00::5]:5433/site", "fd00::5", 5433, "site", null, null)]
    [InlineData("Host=db;Port=5444;Database=k;Username=u;Password=x", "db", 5444, "k", "u", "x")]
    public void ConnectionUri_Forms_BecomeNpgsqlConnectionStrings(string text, string host, int port, string database, string? user, string? password)
    {
        Assert.True(PostgresConnectionUri.TryConvert(text, out var connectionString, out var error), error);
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        Assert.Equal((host, port, database, user, password), (b.Host, b.Port, b.Database, b.Username, b.Password));
    }

    [Theory]
    [InlineData("postgres://host-only")]
    [InlineData("postgres:///nohost")]
    [InlineData("Host=db")]
    [InlineData("postgres://h/db?nosuchoption=1")]
    public void ConnectionUri_WithoutHostOrDatabaseOrUnknownOption_Refused(string text)
    {
        Assert.False(PostgresConnectionUri.TryConvert(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public async Task Migrate_FromWithoutLiteDbPrefix_Usage()
    {
        var (code, _, stderr) = await InProcessCli.RunAsync("db", "migrate", "--from", _dir, "--to", "postgres://h/db");
        Assert.Equal(ExitCodes.BadSettings, code);
        Assert.Contains("litedb:DIR", stderr, StringComparison.Ordinal);
    }

    private Task<TestHost> StartAsync(params string[] overrides) =>
        TestHost.StartAsync(_dir, null, ["--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab", .. overrides]);

    /// <summary>The kinds a running host did not write in the test: profiles, tokens, BMCs, rollouts, revocations, leases.</summary>
    private void SeedTheRest()
    {
        using (var db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db")))
        {
            var nodes = new LiteDbNodeStore(db);
            var nodeId = nodes.List()[0].Id;
            ((IProfileStore)nodes).Upsert(new Profile { Name = "rack-a", Priority = 5, Channel = "stable", Match = new ProfileMatch { Macs = ["52:54:00:d0:00:*"] }, KernelArgs = "quiet" });
            new LiteDbOperatorTokenStore(db).TryInsert(new OperatorToken { Name = "ops", Role = OperatorRole.Viewer, Hash = RandomNumberGenerator.GetBytes(32), Created = DateTime.UtcNow, CreatedBy = "test" });
            new LiteDbBmcStore(db).Upsert(new BmcRecord { Id = nodeId, Protocol = BmcProtocol.Redfish, Address = "10.9.0.1", Port = 443, User = "root", SealedPassword = "sealed-as-stored", UpdatedAt = DateTime.UtcNow });
            new LiteDbRolloutStore(db).Upsert(new RolloutRecord { Id = "r1", Channel = "stable", Action = "rebuild", Target = new ImageRef { Name = "live", Version = "1" }, By = "test", CreatedAt = DateTime.UtcNow, UpdatedAt = DateTime.UtcNow, State = RolloutState.Completed });
            new LiteDbRevokedEkStore(db).Revoke("ab12", "gone-node", "lost", DateTime.UtcNow);
            new LiteDbHardwareFactsStore(db).Append(new HardwareFactsRecord { NodeId = nodeId, At = DateTime.UtcNow, SessionId = "s1", Bound = true, Facts = "{\"cpus\":4}" });
            new Kldload.MeshCA.Distribution.LiteDbMeshRosterStore(db.Database).AddRevoked(new Kldload.MeshCA.Distribution.RevokedKey { PublicKey = RandomNumberGenerator.GetBytes(32), NodeId = "gone-node", KeyEpoch = 1, RevokedAt = DateTimeOffset.UtcNow });
        }

        SeedLeases();
    }

    /// <summary>A site with no host behind it: two nodes with events, facts, a boot token, leases of both kinds.</summary>
    private void SeedSmallSite()
    {
        using (var db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db")))
        {
            var nodes = new LiteDbNodeStore(db);
            foreach (var n in new[] { "a", "b" })
            {
                nodes.Upsert(new NodeRecord { Id = "node-" + n, Name = "n-" + n, Macs = [$"52:54:00:d1:00:0{n}"], FirstSeenAt = DateTime.UtcNow, LastSeenAt = DateTime.UtcNow });
                nodes.Append(new NodeEvent { NodeId = "node-" + n, At = DateTime.UtcNow, Kind = NodeEventKind.Operator, Message = "seen", Actor = "test" });
            }

            new LiteDbHardwareFactsStore(db).Append(new HardwareFactsRecord { NodeId = "node-a", At = DateTime.UtcNow, SessionId = "s1", Bound = true, Facts = "{\"cpus\":4}" });
            new Kldload.Provisioner.Boot.LiteDbBootTokenStore(db).Insert(new Kldload.Provisioner.Boot.BootToken { Token = "tok", NodeId = "node-a", Mac = "52:54:00:d1:00:0a", IssuedAt = DateTime.UtcNow, ExpiresAt = DateTime.UtcNow.AddHours(1) });
        }

        SeedLeases();
    }

    private void SeedLeases()
    {
        using (var leases = LiteDbLeaseStore.Open(Path.Combine(_dir, "leases.db")))
        {
            for (var n = 1u; n <= 3; n++)
            {
                leases.Save(new DhcpLease
                {
                    Address = new Ipv4Address(0x0A000064u + n),
                    ClientId = $"hw:525400d002{n:x2}",
                    HardwareAddress = $"52:54:00:d0:02:{n:x2}",
                    State = DhcpLeaseState.Active,
                    Expires = DateTimeOffset.FromUnixTimeMilliseconds(1_900_000_000_000),
                    HostName = n == 2 ? "host-2" : null,
                    RelayAgentInformation = n == 3 ? [1, 3, 1, 2, 3] : null,
                });
            }

            leases.Flush();
        }

        using var leases6 = Dhcp6LeaseJournalStore.Open(Path.Combine(_dir, "leases6.journal"));
        for (var n = 1u; n <= 2; n++)
        {
            leases6.Save(new Dhcp6Lease
            {
                Address = IPAddress.Parse($"fd00:77::{0x100 + n:x}"),
                ClientDuid = $"00:03:00:01:52:54:00:d6:01:{n:x2}",
                Iaid = n,
                HardwareAddress = $"52:54:00:d6:01:{n:x2}",
                State = DhcpLeaseState.Active,
                Expires = DateTimeOffset.FromUnixTimeMilliseconds(1_900_000_000_000),
                RelayLinkAddress = n == 2 ? IPAddress.Parse("fd00:20::1") : null,
                InterfaceId = n == 2 ? [1, 2, 3] : null,
            });
        }

        leases6.Flush();
    }

    private static Dictionary<string, long> Counts(string connectionString)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var table in PostgresSiteImport.Tables)
        {
            using var exists = new NpgsqlCommand("SELECT to_regclass(@t) IS NOT NULL", connection);
            exists.Parameters.AddWithValue("t", table);
            if (!(bool)exists.ExecuteScalar()!)
            {
                counts[table] = 0;
                continue;
            }

            using var command = new NpgsqlCommand($"SELECT count(*) FROM {table}", connection);
            counts[table] = (long)command.ExecuteScalar()!;
        }

        return counts;
    }

    /// <summary>The URI form of a test cluster connection string (the form an operator types).</summary>
    private static string Uri(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        return $"postgres://{b.Username}@{b.Host}:{b.Port}/{b.Database}";
    }

    private static void AssertSame<T>(IEnumerable<T> expected, IEnumerable<T> actual) =>
        Assert.Equal(expected.Select(e => CanonicalRecords.Text(e)).ToList(), actual.Select(a => CanonicalRecords.Text(a)).ToList());
}
