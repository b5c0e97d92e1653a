using System.CommandLine;
using System.Text.Json;
using Kldload.Age;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Backup;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// <c>kldload backup</c>, <c>kldload backup verify</c>, <c>kldload backup keygen</c> and
/// <c>kldload restore</c>. Exit codes: 0 done, 1 refused or failed (one line saying why), 2 usage.
/// </summary>
internal static class BackupCommands
{
    public static Command CreateBackup()
    {
        var output = new Option<string>("--output", "-o") { Description = "The archive to write (written as FILE.partial, renamed when complete).", Required = true };
        var recipient = new Option<string[]>("--recipient", "-r") { Description = "Encrypt to this age recipient (age1..., from `kldload backup keygen` or age-keygen). Repeatable.", AllowMultipleArgumentsPerToken = false };
        var recipientsFile = new Option<string?>("--recipients-file", "-R") { Description = "Encrypt to every age recipient in this file (one per line)." };
        var passphraseFile = new Option<string?>("--passphrase-file") { Description = "Encrypt with the passphrase on the first line of this file (age scrypt)." };
        var withoutImages = new Option<bool>("--without-images") { Description = "Leave the image blobs out (manifests and channels are kept; re-import the bundles after a restore)." };
        var offline = new Option<bool>("--offline") { Description = "Back up a stopped data directory directly instead of asking the running server." };
        var server = new Option<string?>("--server") { Description = "kldload URL (default Kldload:ServerUrl, else http://127.0.0.1:8080)." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output." };
        var backup = new Command("backup", "Write an encrypted backup of this provisioner: database, mesh CA, leases, admin token, settings and images. Taken while serving.")
        {
            output, recipient, recipientsFile, passphraseFile, withoutImages, offline, server, quiet,
        };
        backup.Subcommands.Add(CreateVerify());
        backup.Subcommands.Add(CreateKeygen());
        backup.SetAction(async (parse, ct) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var config = KldloadCli.LoadOrReport(SettingOverrides.From(parse.UnmatchedTokens), stderr, requireWritableDataDir: false);
            if (config is null)
            {
                return ExitCodes.BadSettings;
            }

            var recipients = new List<AgeRecipient>();
            foreach (var text in parse.GetValue(recipient) ?? [])
            {
                if (!AgeRecipient.TryParse(text, out var r, out var error))
                {
                    return Fail(stderr, $"--recipient {text}: {error}", ExitCodes.BadSettings);
                }

                recipients.Add(r!);
            }

            if (parse.GetValue(recipientsFile) is { } rf)
            {
                try
                {
                    recipients.AddRange(AgeRecipient.ReadFile(rf));
                }
                catch (Exception e) when (e is AgeException or IOException or UnauthorizedAccessException)
                {
                    return Fail(stderr, $"--recipients-file {e.Message}", ExitCodes.BadSettings);
                }
            }

            string? passphrase = null;
            if (parse.GetValue(passphraseFile) is { } pf)
            {
                passphrase = BackupSettings.ReadPassphrase(pf);
                if (passphrase is null)
                {
                    return Fail(stderr, $"--passphrase-file {pf}: missing or empty (the first line is the passphrase)", ExitCodes.BadSettings);
                }
            }

            if ((recipients.Count == 0) == (passphrase is null))
            {
                return Fail(stderr, "give either --recipient/--recipients-file (age public keys) or --passphrase-file: backups are always encrypted", ExitCodes.BadSettings);
            }

            var target = Path.GetFullPath(parse.GetValue(output)!);
            var partial = target + ".partial";
            var includeImages = !parse.GetValue(withoutImages);
            try
            {
                var file = new FileStream(partial, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite, BufferSize = 1 << 16 });
                BackupManifest? manifest;
                await using (file.ConfigureAwait(false))
                {
                    manifest = parse.GetValue(offline)
                        ? await OfflineAsync(config, file, recipients, passphrase, includeImages, stderr, parse.GetValue(quiet), ct).ConfigureAwait(false)
                        : await OnlineAsync(config, parse.GetValue(server), file, recipients, passphrase, includeImages, stderr, parse.GetValue(quiet), ct).ConfigureAwait(false);
                    file.Flush(flushToDisk: true);
                }

                File.Move(partial, target, overwrite: true);
                var size = new FileInfo(target).Length;
                await stdout.WriteLineAsync($"backup written: {target} ({size / 1048576.0:0.0} MiB, encrypted to {(passphrase is null ? $"{recipients.Count} age recipient(s)" : "a passphrase")})").ConfigureAwait(false);
                if (manifest is not null)
                {
                    await stdout.WriteLineAsync($"  holds {manifest.Counts}").ConfigureAwait(false);
                    if (manifest.ExternalDatabase is not null)
                    {
                        await stdout.WriteLineAsync(PostgresNote).ConfigureAwait(false);
                    }
                }

                await stdout.WriteLineAsync($"  check it any time with: kldload backup verify {target} {(passphrase is null ? "--identity KEYFILE" : "--passphrase-file FILE")}").ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or AdminApiException or HttpRequestException or AgeException or LiteDB.LiteException)
            {
                File.Delete(partial);
                return Fail(stderr, $"backup failed: {e.Message}", ExitCodes.Failed);
            }
        });
        return backup;
    }

    public static Command CreateRestore()
    {
        var archive = new Argument<string>("FILE") { Description = "The backup archive." };
        var (identity, passphraseFile) = KeyOptions();
        var force = new Option<bool>("--force") { Description = "Restore even if Kldload:DataDir is not empty: its content is moved aside to DIR.before-restore-TIME, never deleted." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output." };
        var restore = new Command("restore", "Restore a backup into Kldload:DataDir (empty or new). Every digest is checked before anything is written there; a failed restore changes nothing.")
        {
            archive, identity, passphraseFile, force, quiet,
        };
        restore.SetAction(async (parse, ct) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var config = KldloadCli.LoadOrReport(SettingOverrides.From(parse.UnmatchedTokens), stderr, requireWritableDataDir: false);
            if (config is null)
            {
                return ExitCodes.BadSettings;
            }

            if (ReadKeys(parse, identity, passphraseFile, stderr) is not { } keys)
            {
                return ExitCodes.BadSettings;
            }

            var path = parse.GetValue(archive)!;
            if (!File.Exists(path))
            {
                return Fail(stderr, $"restore refused: {path}: no such file", ExitCodes.Failed);
            }

            try
            {
                var input = File.OpenRead(path);
                await using (input.ConfigureAwait(false))
                {
                    var result = await ImageProgress.RunAsync(stderr, parse.GetValue(quiet), progress =>
                        BackupRestorer.RestoreAsync(input, keys, config.Kldload.DataDir, parse.GetValue(force), progress, TimeProvider.System, ct)).ConfigureAwait(false);
                    await stdout.WriteLineAsync($"restored {path} into {result.TargetDir}").ConfigureAwait(false);
                    await stdout.WriteLineAsync($"  backup of {result.Manifest.Host} taken {result.Manifest.Created:yyyy-MM-dd HH:mm:ss}Z by kldload {result.Manifest.KldloadVersion}").ConfigureAwait(false);
                    await stdout.WriteLineAsync($"  holds {result.Manifest.Counts}").ConfigureAwait(false);
                    if (result.PreviousContentMovedTo is { } aside)
                    {
                        await stdout.WriteLineAsync($"  the previous content of the directory is kept in {aside}").ConfigureAwait(false);
                    }

                    foreach (var note in Notes(result, config))
                    {
                        await stdout.WriteLineAsync($"  note: {note}").ConfigureAwait(false);
                    }

                    await stdout.WriteLineAsync($"  start it with: kldload serve --Kldload:DataDir={result.TargetDir}").ConfigureAwait(false);
                    return ExitCodes.Ok;
                }
            }
            catch (BackupException e)
            {
                return Fail(stderr, $"restore refused ({Describe(e.Failure)}): {e.Message}; {config.Kldload.DataDir} is unchanged", ExitCodes.Failed);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LiteDB.LiteException)
            {
                return Fail(stderr, $"restore failed: {e.Message}; {config.Kldload.DataDir} is unchanged", ExitCodes.Failed);
            }
        });
        return restore;
    }

    private static Command CreateVerify()
    {
        var archive = new Argument<string>("FILE") { Description = "The backup archive." };
        var (identity, passphraseFile) = KeyOptions();
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output." };
        var json = new Option<bool>("--json") { Description = "Print the verified manifest as JSON." };
        var verify = new Command("verify", "Decrypt a backup and check every file against its manifest, writing nothing.") { archive, identity, passphraseFile, quiet, json };
        verify.SetAction(async (parse, ct) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            if (ReadKeys(parse, identity, passphraseFile, stderr) is not { } keys)
            {
                return ExitCodes.BadSettings;
            }

            var path = parse.GetValue(archive)!;
            try
            {
                var input = File.OpenRead(path);
                await using (input.ConfigureAwait(false))
                {
                    var manifest = await ImageProgress.RunAsync(stderr, parse.GetValue(quiet), progress => BackupRestorer.VerifyAsync(input, keys, progress, ct)).ConfigureAwait(false);
                    if (parse.GetValue(json))
                    {
                        await stdout.WriteLineAsync(JsonSerializer.Serialize(manifest, AdminClient.Json)).ConfigureAwait(false);
                        return ExitCodes.Ok;
                    }

                    await stdout.WriteLineAsync($"{path}: intact; {manifest.Entries.Count} files match their digests").ConfigureAwait(false);
                    await stdout.WriteLineAsync($"  backup of {manifest.Host} taken {manifest.Created:yyyy-MM-dd HH:mm:ss}Z by kldload {manifest.KldloadVersion}{(manifest.IncludesImages ? string.Empty : ", without images")}").ConfigureAwait(false);
                    await stdout.WriteLineAsync($"  holds {manifest.Counts}").ConfigureAwait(false);
                    return ExitCodes.Ok;
                }
            }
            catch (BackupException e)
            {
                return Fail(stderr, $"{path}: {Describe(e.Failure)}: {e.Message}", ExitCodes.Failed);
            }
            catch (IOException e)
            {
                return Fail(stderr, $"{path}: {e.Message}", ExitCodes.Failed);
            }
        });
        return verify;
    }

    private static Command CreateKeygen()
    {
        var output = new Option<string>("--output", "-o") { Description = "Identity file to create (mode 0600). Keep it off this machine: it opens every backup.", Required = true };
        var keygen = new Command("keygen", "Create an age identity for backups; prints the recipient (public key) to pass to --recipient or Backup:RecipientsFile.") { output };
        keygen.SetAction(parse =>
        {
            var path = parse.GetValue(output)!;
            if (File.Exists(path))
            {
                return Fail(parse.InvocationConfiguration.Error, $"{path} exists: not overwriting a key", ExitCodes.Failed);
            }

            var identity = AgeIdentity.Generate();
            File.WriteAllText(path, identity.ToFileText(DateTimeOffset.Now), new System.Text.UTF8Encoding(false));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            parse.InvocationConfiguration.Output.WriteLine(identity.Recipient.ToString());
            return ExitCodes.Ok;
        });
        return keygen;
    }

    private static (Option<string[]> Identity, Option<string?> PassphraseFile) KeyOptions() =>
    (
        new Option<string[]>("--identity", "-i") { Description = "An age identity file (AGE-SECRET-KEY-1...) that opens the archive. Repeatable." },
        new Option<string?>("--passphrase-file") { Description = "The passphrase, on the first line of this file." }
    );

    private static AgeKeys? ReadKeys(ParseResult parse, Option<string[]> identity, Option<string?> passphraseFile, TextWriter stderr)
    {
        var identities = new List<AgeIdentity>();
        try
        {
            foreach (var file in parse.GetValue(identity) ?? [])
            {
                identities.AddRange(AgeIdentity.ReadFile(file));
            }
        }
        catch (Exception e) when (e is AgeException or IOException)
        {
            Fail(stderr, e.Message, 0);
            return null;
        }

        string? passphrase = null;
        if (parse.GetValue(passphraseFile) is { } pf)
        {
            passphrase = BackupSettings.ReadPassphrase(pf);
            if (passphrase is null)
            {
                Fail(stderr, $"--passphrase-file {pf}: missing or empty (the first line is the passphrase)", 0);
                return null;
            }
        }

        if (identities.Count == 0 && passphrase is null)
        {
            Fail(stderr, "give --identity FILE (age key) or --passphrase-file FILE to open the archive", 0);
            return null;
        }

        return new AgeKeys { Identities = identities, Passphrase = passphrase };
    }

    private static async Task<BackupManifest?> OnlineAsync(KldloadConfiguration config, string? server, Stream file, List<AgeRecipient> recipients, string? passphrase, bool includeImages, TextWriter stderr, bool quiet, CancellationToken ct)
    {
        var token = AdminToken.TryRead(config.Auth.AdminTokenFile)
            ?? throw new AdminApiException(0, $"cannot read the admin token {config.Auth.AdminTokenFile} (set Auth:AdminTokenFile or Kldload:DataDir; --offline backs up a stopped data directory)");
        var url = AdminClient.ResolveServer(server, config);

        // With a passphrase the server still only sees a public key: an ephemeral one whose identity
        // never leaves this process. Its stanza is swapped for the passphrase stanza below; the
        // payload is copied unchanged (it depends on the file key only).
        var ephemeral = passphrase is null ? null : AgeIdentity.Generate();
        var pins = KnownServers.For(config, stderr);
        using var http = AdminClient.CreateHttp(url, token, pins, Timeout.InfiniteTimeSpan);
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/backup")
        {
            Content = JsonContent.Create(new BackupRequest([.. (ephemeral is null ? recipients : [ephemeral.Recipient]).Select(r => r.ToString())], includeImages)),
        };
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new AdminApiException(0, pins.RefusalFor(url) ?? $"cannot reach kldload at {url}: {e.Message} (is `kldload serve` running? set --server, or use --offline for a stopped data directory)");
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                throw new AdminApiException((int)response.StatusCode, $"{(int)response.StatusCode} {response.ReasonPhrase}: {ProblemDetail(body)}");
            }

            var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                await ImageProgress.RunAsync(stderr, quiet, async progress =>
                {
                    progress.Start("backup", 0);
                    if (ephemeral is not null)
                    {
                        var fileKey = AgeHeader.Read(stream, new AgeKeys { Identities = [ephemeral] });
                        var header = AgeHeader.Write(fileKey, [AgeHeader.WrapScrypt(fileKey, passphrase!, 18)]);
                        await file.WriteAsync(header, ct).ConfigureAwait(false);
                    }

                    var buffer = new byte[1 << 16];
                    int n;
                    while ((n = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                    {
                        await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                        progress.Advance(n);
                    }

                    progress.Finish();
                    return 0;
                }).ConfigureAwait(false);
            }
        }

        return null;
    }

    /// <summary>What a backup of an instance on PostgreSQL leaves out.</summary>
    private const string PostgresNote = "  the inventory, leases and catalogue are in PostgreSQL (Database:Provider): not in this backup; back them up with pg_dump or replication";

    private static async Task<BackupManifest> OfflineAsync(KldloadConfiguration config, Stream file, List<AgeRecipient> recipients, string? passphrase, bool includeImages, TextWriter stderr, bool quiet, CancellationToken ct)
    {
        if (config.Database.Provider == DatabaseProvider.LiteDb && !File.Exists(config.Kldload.DatabasePath))
        {
            throw new IOException($"no kldload database at {config.Kldload.DatabasePath}: check Kldload:DataDir");
        }

        // The lease database is not shared: a running server must take the backup itself.
        using var dataLock = DataDirectoryLock.TryAcquire(config.Kldload.DataDir)
            ?? throw new IOException($"a kldload serve (or another kldload command) is running on {config.Kldload.DataDir}: back up through it (without --offline)");
        using var db = config.Database.Provider == DatabaseProvider.LiteDb ? LiteKldloadDatabase.Open(config.Kldload.DatabasePath) : null;
        var source = BackupService.CreateSource(db, config);
        var age = passphrase is null ? AgeEncryptingStream.ToRecipients(file, recipients, leaveOpen: true) : AgeEncryptingStream.WithPassphrase(file, passphrase, leaveOpen: true);
        await using (age.ConfigureAwait(false))
        {
            var manifest = await ImageProgress.RunAsync(stderr, quiet, progress => BackupWriter.WriteAsync(source, age, includeImages, progress, TimeProvider.System, ct)).ConfigureAwait(false);
            await age.CompleteAsync(ct).ConfigureAwait(false);
            return manifest;
        }
    }

    /// <summary>What the operator should know after a restore: settings that differ, the token's place, missing blobs.</summary>
    private static IEnumerable<string> Notes(RestoreResult result, KldloadConfiguration config)
    {
        var tokenAtTarget = Path.Combine(result.TargetDir, "admin.token");
        if (File.Exists(tokenAtTarget) && !string.Equals(config.Auth.AdminTokenFile, tokenAtTarget, StringComparison.Ordinal))
        {
            yield return $"the admin token was restored to {tokenAtTarget}; Auth:AdminTokenFile is {config.Auth.AdminTokenFile}: copy it there or point the setting at it";
        }

        if (result.Manifest.ExternalDatabase is not null)
        {
            yield return "this backup was taken on PostgreSQL and holds the instance's files only: point Database:ConnectionString at the restored database (pg_restore) before starting";
        }

        if (!result.Manifest.IncludesImages && result.Manifest.Counts.Images > 0)
        {
            yield return $"this backup holds no image blobs: re-import the bundles of its {result.Manifest.Counts.Images} image versions (kldload image import BUNDLE) before nodes boot";
        }

        var saved = Path.Combine(result.TargetDir, BackupLayout.RestoredSettingsFile);
        if (!File.Exists(saved))
        {
            yield break;
        }

        var then = JsonSerializer.Deserialize<Dictionary<string, string?>>(File.ReadAllText(saved)) ?? [];
        var now = BackupService.SettingsInForce(config);
        var differing = then.Keys.Union(now.Keys).Where(k => k != "Kldload:DataDir" && then.GetValueOrDefault(k) != now.GetValueOrDefault(k)).Order(StringComparer.Ordinal).ToList();
        foreach (var key in differing.Take(20))
        {
            yield return $"setting {key} was '{then.GetValueOrDefault(key) ?? "(default)"}' at backup time and is '{now.GetValueOrDefault(key) ?? "(default)"}' now";
        }

        if (differing.Count > 0)
        {
            yield return $"the settings in force at backup time are in {saved}";
        }
    }

    private static string Describe(BackupFailure failure) => failure switch
    {
        BackupFailure.TargetNotEmpty => "target not empty",
        BackupFailure.NotAnArchive => "not a kldload backup",
        BackupFailure.WrongKey => "wrong key",
        BackupFailure.Damaged => "damaged archive",
        BackupFailure.Truncated => "truncated archive",
        _ => "I/O error",
    };

    private static string ProblemDetail(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("detail", out var d) ? d.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body;
        }
    }

    private static int Fail(TextWriter stderr, string message, int code)
    {
        stderr.WriteLine($"kldload: {message}");
        return code;
    }
}
