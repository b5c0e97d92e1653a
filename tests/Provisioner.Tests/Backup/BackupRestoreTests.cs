using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kldload.Age;
using Kldload.ImageStore;
using Kldload.Provisioner.Backup;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Tests.Attestation;
using LiteDB;

namespace Kldload.Provisioner.Tests.Backup;

/// <summary>
/// Disaster recovery of the provisioner: a backup of a running service (real host, LiteDB, image
/// store, MeshCA, swtpm node) restored into a fresh directory serves the same nodes with the same
/// identities; damaged, cut or wrongly keyed archives are refused and change nothing.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class BackupRestoreTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-backup-").FullName;
    private readonly AgeIdentity _identity = AgeIdentity.Generate();
    private string _identityFile = null!;

    private string Source => Path.Combine(_dir, "source");

    public Task InitializeAsync()
    {
        _identityFile = Path.Combine(_dir, "backup.key");
        File.WriteAllText(_identityFile, _identity.ToFileText(DateTimeOffset.UtcNow));
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Restore_OfServiceWithReadyNodeAndImages_SameStateAndTheNodeReattestsWithTheSameIdentity()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:b0:00:01";
        byte[] archive;
        JsonElement before;
        var host = await StartAsync(Source);
        await using (host.ConfigureAwait(false))
        {
            await HostImages.ImportLiveAsync(host, "1");
            await HostImages.ImportLiveAsync(host, "2");
            Assert.True((await host.Admin.PostAsync(new Uri("/api/v1/channels/stable/rollback", UriKind.Relative), null)).IsSuccessStatusCode);
            await Agent.AttestAsync(host.Http, tpm, await Agent.BootTokenAsync(host.Http, mac), mac);
            await Agent.BootTokenAsync(host.Http, "52:54:00:b0:00:02"); // a second node, only discovered
            before = await host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
            Assert.Equal("Ready", before.GetProperty("state").GetString());

            archive = await BackupThroughApiAsync(host);
            var metrics = await host.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            // Metrics are process-wide and other tests back up too: at least this one counted.
            Assert.Matches("kldload_backups_total\\{trigger=\"api\",outcome=\"ok\"\\} [1-9]", metrics);
        }

        var file = Path.Combine(_dir, "site.age");
        await File.WriteAllBytesAsync(file, archive);
        var target = Path.Combine(_dir, "restored");
        var (code, stdout, stderr) = await InProcessCli.RunAsync("restore", file, "-i", _identityFile, $"--Kldload:DataDir={target}");
        Assert.True(code == 0, stderr);
        Assert.Contains("holds 2 nodes", stdout, StringComparison.Ordinal);

        // Every collection, document for document, byte for byte; and every file.
        AssertSameDatabase(Path.Combine(Source, "kldload.db"), Path.Combine(target, "kldload.db"));
        foreach (var relative in new[] { "admin.token", "meshca/root.pem", "meshca/intermediate.key.pem", "meshca/trust.pem", "meshca/hub.key" })
        {
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(Source, relative)), await File.ReadAllBytesAsync(Path.Combine(target, relative)));
        }

        var blobs = Directory.GetFiles(Path.Combine(Source, "images", "blobs")).Where(f => Sha256Digest.TryParse(Path.GetFileName(f), out _)).ToList();
        Assert.Equal(4, blobs.Count);
        foreach (var blob in blobs)
        {
            Assert.Equal(await File.ReadAllBytesAsync(blob), await File.ReadAllBytesAsync(Path.Combine(target, "images", "blobs", Path.GetFileName(blob))));
        }

        // The restored service answers the same node with the same identity, no operator step.
        var restored = await StartAsync(target);
        await using (restored.ConfigureAwait(false))
        {
            var channel = await restored.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/channels/stable", UriKind.Relative));
            Assert.Equal("live/1", channel.GetProperty("channel").GetProperty("current").GetString());
            var activated = await Agent.AttestAsync(restored.Http, tpm, await Agent.BootTokenAsync(restored.Http, mac), mac);
            Assert.Equal("Attested", activated.GetProperty("state").GetString());
            var after = await restored.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
            Assert.Equal("Ready", after.GetProperty("state").GetString());
            foreach (var key in new[] { "id", "name", "meshAddress", "wireguardPublicKey", "ekFingerprint" })
            {
                Assert.Equal(before.GetProperty(key).ToString(), after.GetProperty(key).ToString());
            }

            // Signed by the same CA: the restored trust bundle is the old one.
            Assert.Equal(await File.ReadAllTextAsync(Path.Combine(Source, "meshca", "trust.pem")), await File.ReadAllTextAsync(Path.Combine(target, "meshca", "trust.pem")));
        }
    }

    [Fact]
    public async Task Restore_DamagedCutOrWrongKey_RefusedWithReasonAndNothingWritten()
    {
        var host = await StartAsync(Source);
        byte[] archive;
        await using (host.ConfigureAwait(false))
        {
            await HostImages.ImportLiveAsync(host, "1");
            archive = await BackupThroughApiAsync(host);
        }

        var target = Path.Combine(_dir, "target");
        var flipped = (byte[])archive.Clone();
        flipped[archive.Length / 2] ^= 0x20;
        var cases = new (string Name, byte[] Bytes, string[] Keys, string Reason)[]
        {
            ("flipped", flipped, ["-i", _identityFile], "damaged archive"),
            ("cut-mid", archive[..(archive.Length / 2)], ["-i", _identityFile], "damaged archive"),
            ("cut-at-chunk", archive[..ChunkBoundary(archive)], ["-i", _identityFile], "truncated archive"),
            ("wrong-key", archive, ["-i", await KeyFileAsync(AgeIdentity.Generate())], "wrong key"),
            ("not-age", "PK\u0003\u0004 a zip file"u8.ToArray(), ["-i", _identityFile], "not a kldload backup"),
        };
        foreach (var c in cases)
        {
            var file = Path.Combine(_dir, c.Name + ".age");
            await File.WriteAllBytesAsync(file, c.Bytes);
            var (code, _, stderr) = await InProcessCli.RunAsync(["restore", file, .. c.Keys, $"--Kldload:DataDir={target}"]);
            Assert.Equal(1, code);
            Assert.True(stderr.Contains($"restore refused ({c.Reason})", StringComparison.Ordinal), $"{c.Name}: {stderr}");
            Assert.False(Directory.Exists(target), $"{c.Name}: the target was created");
            Assert.Empty(Directory.GetDirectories(_dir, ".target.restore-*"));
        }

        // A non-empty target: refused; with --force and a damaged archive, still untouched.
        Directory.CreateDirectory(target);
        await File.WriteAllTextAsync(Path.Combine(target, "precious"), "keep me");
        var good = Path.Combine(_dir, "good.age");
        await File.WriteAllBytesAsync(good, archive);
        var refused = await InProcessCli.RunAsync("restore", good, "-i", _identityFile, $"--Kldload:DataDir={target}");
        Assert.Equal(1, refused.Code);
        Assert.Contains("restore refused (target not empty)", refused.Stderr, StringComparison.Ordinal);
        var forcedBad = await InProcessCli.RunAsync("restore", Path.Combine(_dir, "flipped.age"), "-i", _identityFile, "--force", $"--Kldload:DataDir={target}");
        Assert.Equal(1, forcedBad.Code);
        Assert.Equal(["precious"], Directory.GetFileSystemEntries(target).Select(Path.GetFileName));
        Assert.Empty(Directory.GetDirectories(_dir, "target.before-restore-*"));

        // --force with a good archive: restored, and the old content kept aside, never deleted.
        var forced = await InProcessCli.RunAsync("restore", good, "-i", _identityFile, "--force", $"--Kldload:DataDir={target}");
        Assert.True(forced.Code == 0, forced.Stderr);
        Assert.True(File.Exists(Path.Combine(target, "kldload.db")));
        var aside = Assert.Single(Directory.GetDirectories(_dir, "target.before-restore-*"));
        Assert.Equal("keep me", await File.ReadAllTextAsync(Path.Combine(aside, "precious")));
    }

    [Fact]
    public async Task Verify_PassphraseBackupFromCli_IntactAndCountsPrinted()
    {
        var host = await StartAsync(Source);
        await using (host.ConfigureAwait(false))
        {
            await HostImages.ImportLiveAsync(host, "1");
            var pass = Path.Combine(_dir, "pass.txt");
            await File.WriteAllTextAsync(pass, "a long passphrase\n");
            var file = Path.Combine(_dir, "p.age");
            var url = host.Http.BaseAddress!.ToString();
            var backup = await InProcessCli.RunAsync("backup", "-o", file, "--passphrase-file", pass, "--server", url, $"--Kldload:DataDir={Source}");
            Assert.True(backup.Code == 0, backup.Stderr);
            Assert.False(File.Exists(file + ".partial"));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));

            var verify = await InProcessCli.RunAsync("backup", "verify", file, "--passphrase-file", pass);
            Assert.True(verify.Code == 0, verify.Stderr);
            Assert.Contains("intact", verify.Stdout, StringComparison.Ordinal);
            Assert.Contains("1 image versions, 1 channels, 2 blobs", verify.Stdout, StringComparison.Ordinal);

            await File.WriteAllTextAsync(pass, "not the passphrase\n");
            var wrong = await InProcessCli.RunAsync("backup", "verify", file, "--passphrase-file", pass);
            Assert.Equal(1, wrong.Code);
            Assert.Contains("wrong passphrase", wrong.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Schedule_WritesEncryptedBackupsAtStartAndKeepsTheNewest()
    {
        var backups = Path.Combine(_dir, "backups");
        var recipients = Path.Combine(_dir, "recipients.txt");
        await File.WriteAllTextAsync(recipients, $"# site backup key\n{_identity.Recipient}\n");
        var host = await StartAsync(Source, "--Backup:Schedule=1.00:00:00", $"--Backup:Directory={backups}", $"--Backup:RecipientsFile={recipients}", "--Backup:Keep=2");
        await using (host.ConfigureAwait(false))
        {
            // No backup yet: the first one is due at once.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!Directory.Exists(backups) || Directory.GetFiles(backups, "kldload-backup-*.age").Length == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "no scheduled backup within 60 s");
                await Task.Delay(200);
            }

            var scheduler = host.Service<BackupScheduler>();
            await Task.Delay(1100);
            await scheduler.RunOnceAsync(backups, CancellationToken.None);
            await Task.Delay(1100);
            var newest = await scheduler.RunOnceAsync(backups, CancellationToken.None);
            var kept = Directory.GetFiles(backups).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(2, kept.Count);
            Assert.Equal(newest, kept[^1]);

            await using var input = File.OpenRead(newest);
            var manifest = await BackupRestorer.VerifyAsync(input, new AgeKeys { Identities = [_identity] }, NoTransferProgress.Instance, CancellationToken.None);
            Assert.True(manifest.Entries.Count > 5);
            var metrics = await host.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            Assert.Contains("kldload_backups_total{trigger=\"schedule\",outcome=\"ok\"} 3", metrics, StringComparison.Ordinal);
            Assert.Contains("kldload_backup_last_success_timestamp_seconds", metrics, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Settings_ScheduleWithoutDirectoryOrKey_EveryProblemListed()
    {
        var root = KldloadConfiguration.BuildRoot(["--Backup:Schedule=01:00:00", "--Backup:Keep=0", $"--Kldload:DataDir={Source}"], "/nonexistent.json");
        KldloadConfiguration.Load(root, out var errors);
        Assert.Contains(errors, e => e.Key == "Backup:Directory");
        Assert.Contains(errors, e => e.Key == "Backup:RecipientsFile");
        Assert.Contains(errors, e => e.Key == "Backup:Keep");
    }

    [Fact]
    public async Task Backup_ApiWithoutRecipient_400AndNoToken_401()
    {
        var host = await StartAsync(Source);
        await using (host.ConfigureAwait(false))
        {
            var none = await host.Admin.PostAsJsonAsync(new Uri("/api/v1/backup", UriKind.Relative), new { recipients = Array.Empty<string>() });
            Assert.Equal(HttpStatusCode.BadRequest, none.StatusCode);
            var bad = await host.Admin.PostAsJsonAsync(new Uri("/api/v1/backup", UriKind.Relative), new { recipients = new[] { "age1notakey" } });
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            var anonymous = await host.Http.PostAsJsonAsync(new Uri("/api/v1/backup", UriKind.Relative), new { recipients = new[] { _identity.Recipient.ToString() } });
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }
    }

    [Fact]
    public async Task DataDirectory_InUseByAServer_SecondServerOfflineBackupAndForcedRestoreRefused()
    {
        var host = await StartAsync(Source);
        await using (host.ConfigureAwait(false))
        {
            var second = await Assert.ThrowsAsync<Kldload.Provisioner.Settings.SettingBindException>(() => StartAsync(Source));
            Assert.Contains("another kldload process is using this data directory", second.Message, StringComparison.Ordinal);

            var offline = await InProcessCli.RunAsync("backup", "--offline", "-o", Path.Combine(_dir, "x.age"), "-r", _identity.Recipient.ToString(), $"--Kldload:DataDir={Source}");
            Assert.Equal(1, offline.Code);
            Assert.Contains("back up through it (without --offline)", offline.Stderr, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(_dir, "x.age")));

            var good = Path.Combine(_dir, "good.age");
            await File.WriteAllBytesAsync(good, await BackupThroughApiAsync(host));
            var forced = await InProcessCli.RunAsync("restore", good, "-i", _identityFile, "--force", $"--Kldload:DataDir={Source}");
            Assert.Equal(1, forced.Code);
            Assert.Contains("stop it before restoring", forced.Stderr, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(Source, "kldload.db")));
        }

        // Stopped: the lock is released and an offline backup works.
        var after = await InProcessCli.RunAsync("backup", "--offline", "-o", Path.Combine(_dir, "x.age"), "-r", _identity.Recipient.ToString(), $"--Kldload:DataDir={Source}", "-q");
        Assert.True(after.Code == 0, after.Stderr);
        Assert.Contains("holds 0 nodes", after.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restore_OfflineBackupWithLeaseOfLongClientId_EveryLeaseBackFromTheJournal()
    {
        // A data directory as a stopped service leaves it (DHCP is off in the test host, so the lease
        // files are not held), with a lease whose client id (200 bytes, 403 characters) the version 1
        // journal could not hold, between two ordinary ones.
        var host = await StartAsync(Source);
        await host.DisposeAsync();
        Kldload.Dhcp.Server.DhcpLease Lease(int n, string clientId) => new()
        {
            Address = new Kldload.Dhcp.Protocol.Ipv4Address(0x0A000064u + (uint)n),
            ClientId = clientId,
            HardwareAddress = $"52:54:00:b0:01:{n:x2}",
            State = Kldload.Dhcp.Server.DhcpLeaseState.Active,
            Expires = DateTimeOffset.FromUnixTimeMilliseconds(1_900_000_000_000),
            HostName = n == 2 ? new string('h', 255) : null,
            RelayAgentInformation = n == 3 ? [1, 3, 1, 2, 3] : null,
        };
        Kldload.Dhcp.Server.DhcpLease[] leases = [Lease(1, "hw:525400b00101"), Lease(2, "id:" + new string('A', 400)), Lease(3, "hw:525400b00103")];
        using (var store = Kldload.Dhcp.Leases.LiteDbLeaseStore.Open(Path.Combine(Source, "leases.db")))
        {
            foreach (var lease in leases)
            {
                store.Save(lease);
            }

            store.Flush();
        }

        var file = Path.Combine(_dir, "leases.age");
        var backup = await InProcessCli.RunAsync("backup", "--offline", "-o", file, "-r", _identity.Recipient.ToString(), $"--Kldload:DataDir={Source}", "-q");
        Assert.True(backup.Code == 0, backup.Stderr);
        var target = Path.Combine(_dir, "restored");
        var restore = await InProcessCli.RunAsync("restore", file, "-i", _identityFile, $"--Kldload:DataDir={target}");
        Assert.True(restore.Code == 0, restore.Stderr);

        using var restored = Kldload.Dhcp.Leases.LiteDbLeaseStore.Open(Path.Combine(target, "leases.db"));
        var back = restored.LoadAll().OrderBy(l => l.Address).ToList();
        Assert.Equal(leases.Select(l => (l.Address, l.ClientId, l.HardwareAddress, l.HostName)), back.Select(l => (l.Address, l.ClientId, l.HardwareAddress, l.HostName)));
        Assert.Equal(leases[2].RelayAgentInformation, back[2].RelayAgentInformation);
    }

    [Fact]
    public async Task Restore_OfflineBackupWithDhcp6Journal_EveryLeaseBackWithItsLatestState()
    {
        // A stopped service's leases6.journal: three addresses, the second released after it was
        // bound (two records for one address; the backup keeps the latest), the third relayed.
        var host = await StartAsync(Source);
        await host.DisposeAsync();
        Kldload.Dhcp.Dhcp6.Server.Dhcp6Lease Lease(int n, Kldload.Dhcp.Server.DhcpLeaseState state) => new()
        {
            Address = IPAddress.Parse($"fd00:77::{0x100 + n:x}"),
            ClientDuid = $"00:03:00:01:52:54:00:b6:01:{n:x2}",
            Iaid = (uint)n,
            HardwareAddress = $"52:54:00:b6:01:{n:x2}",
            State = state,
            Expires = DateTimeOffset.FromUnixTimeMilliseconds(1_900_000_000_000),
            RelayLinkAddress = n == 3 ? IPAddress.Parse("fd00:20::1") : null,
            InterfaceId = n == 3 ? [1, 2, 3] : null,
        };
        using (var store = Kldload.Dhcp.Dhcp6.Leases.Dhcp6LeaseJournalStore.Open(Path.Combine(Source, "leases6.journal")))
        {
            store.Save(Lease(1, Kldload.Dhcp.Server.DhcpLeaseState.Active));
            store.Save(Lease(2, Kldload.Dhcp.Server.DhcpLeaseState.Active));
            store.Flush();
            store.Save(Lease(2, Kldload.Dhcp.Server.DhcpLeaseState.Released));
            store.Save(Lease(3, Kldload.Dhcp.Server.DhcpLeaseState.Active));
            store.Flush();
        }

        var file = Path.Combine(_dir, "leases6.age");
        var backup = await InProcessCli.RunAsync("backup", "--offline", "-o", file, "-r", _identity.Recipient.ToString(), $"--Kldload:DataDir={Source}", "-q");
        Assert.True(backup.Code == 0, backup.Stderr);
        var target = Path.Combine(_dir, "restored6");
        var restore = await InProcessCli.RunAsync("restore", file, "-i", _identityFile, $"--Kldload:DataDir={target}");
        Assert.True(restore.Code == 0, restore.Stderr);

        using var restored = Kldload.Dhcp.Dhcp6.Leases.Dhcp6LeaseJournalStore.Open(Path.Combine(target, "leases6.journal"));
        var back = restored.LoadAll().OrderBy(l => l.Iaid).ToList();
        Assert.Equal(
            [(1u, "52:54:00:b6:01:01", Kldload.Dhcp.Server.DhcpLeaseState.Active), (2u, "52:54:00:b6:01:02", Kldload.Dhcp.Server.DhcpLeaseState.Released), (3u, "52:54:00:b6:01:03", Kldload.Dhcp.Server.DhcpLeaseState.Active)],
            back.Select(l => (l.Iaid, l.HardwareAddress, l.State)));
        Assert.Equal(IPAddress.Parse("fd00:20::1"), back[2].RelayLinkAddress);
        Assert.Equal([1, 2, 3], back[2].InterfaceId);
        Assert.Equal(3, restored.JournalRecords); // compacted: one record per address
    }

    private static Task<TestHost> StartAsync(string dataDir, params string[] overrides) =>
        TestHost.StartAsync(dataDir, null, ["--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab", .. overrides]);

    private async Task<byte[]> BackupThroughApiAsync(TestHost host)
    {
        var response = await host.Admin.PostAsJsonAsync(new Uri("/api/v1/backup", UriKind.Relative), new { recipients = new[] { _identity.Recipient.ToString() } });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return await response.Content.ReadAsByteArrayAsync();
    }

    private async Task<string> KeyFileAsync(AgeIdentity identity)
    {
        var path = Path.Combine(_dir, $"key-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(path, identity.ToFileText(DateTimeOffset.UtcNow));
        return path;
    }

    /// <summary>A cut right after a whole middle chunk: the header, the nonce and one sealed chunk.</summary>
    private static int ChunkBoundary(byte[] archive)
    {
        var header = System.Text.Encoding.ASCII.GetString(archive, 0, 1024).IndexOf("\n---", StringComparison.Ordinal);
        var headerEnd = Array.IndexOf(archive, (byte)'\n', header + 1) + 1;
        var cut = headerEnd + 16 + 65536 + 16;
        Assert.True(cut < archive.Length, "the archive needs more than one chunk");
        return cut;
    }

    private static void AssertSameDatabase(string expectedPath, string actualPath)
    {
        using var expected = new LiteDatabase(new ConnectionString { Filename = expectedPath, Connection = ConnectionType.Shared, ReadOnly = true });
        using var actual = new LiteDatabase(new ConnectionString { Filename = actualPath, Connection = ConnectionType.Shared, ReadOnly = true });
        var names = expected.GetCollectionNames().Order(StringComparer.Ordinal).ToList();
        Assert.Equal(names, actual.GetCollectionNames().Order(StringComparer.Ordinal).ToList());
        Assert.Contains("nodes", names);
        Assert.Contains("events", names);
        Assert.Contains("image_channels", names);
        foreach (var name in names)
        {
            var a = expected.GetCollection(name).FindAll().Select(d => Convert.ToHexString(BsonSerializer.Serialize(d))).Order(StringComparer.Ordinal).ToList();
            var b = actual.GetCollection(name).FindAll().Select(d => Convert.ToHexString(BsonSerializer.Serialize(d))).Order(StringComparer.Ordinal).ToList();
            Assert.True(a.SequenceEqual(b), $"collection {name} differs: {a.Count} documents before, {b.Count} after");
        }
    }
}
