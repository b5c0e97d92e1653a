using System.CommandLine;
using System.Text.Json;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// <c>kldload db migrate --from litedb:DIR --to postgres://...</c>: copies a stopped site's database
/// (<c>kldload.db</c> and its lease files) into an empty PostgreSQL database in one transaction, then
/// reads everything back through the PostgreSQL stores and compares counts and digests kind by kind.
/// Exit codes: 0 copied and every kind matches; 1 refused, failed or a mismatch (the target is left
/// empty); 2 usage.
/// </summary>
internal static class DbCommands
{
    private const string FromPrefix = "litedb:";

    public static Command Create()
    {
        var db = new Command("db", "Move a site's database between providers.");
        db.Subcommands.Add(CreateMigrate());
        return db;
    }

    private static Command CreateMigrate()
    {
        var from = new Option<string>("--from") { Description = "The stopped site: litedb:DIR, its Kldload:DataDir.", Required = true, HelpName = "litedb:DIR" };
        var to = new Option<string?>("--to") { Description = "The PostgreSQL database: postgres://user:password@host:port/database, or Npgsql's Host=...;Database=... form.", HelpName = "URI" };
        var toFile = new Option<string?>("--to-file") { Description = "Read --to from the first line of this file (mode 0600), to keep the password out of shell history.", HelpName = "FILE" };
        var replace = new Option<bool>("--replace") { Description = "Delete the kldload rows the target already holds before copying (in the same transaction)." };
        var json = new Option<bool>("--json") { Description = "Print the comparison as JSON." };
        var migrate = new Command("migrate", "Copy a stopped LiteDB site into an empty PostgreSQL database in one transaction, then check every kind by count and digest. Blobs, CA keys and tokens stay in the data directory.")
        {
            from, to, toFile, replace, json,
        };
        migrate.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var source = parse.GetValue(from)!;
            if (!source.StartsWith(FromPrefix, StringComparison.Ordinal) || source.Length == FromPrefix.Length)
            {
                return Fail(stderr, $"--from {source}: give litedb:DIR, the data directory of the site to move", ExitCodes.BadSettings);
            }

            var dataDir = Path.GetFullPath(source[FromPrefix.Length..]);
            var target = ReadTarget(parse.GetValue(to), parse.GetValue(toFile), stderr);
            if (target is null)
            {
                return ExitCodes.BadSettings;
            }

            return Migrate(dataDir, target, parse.GetValue(replace), parse.GetValue(json), stdout, stderr);
        });
        return migrate;
    }

    private static string? ReadTarget(string? to, string? toFile, TextWriter stderr)
    {
        if ((to is null) == (toFile is null))
        {
            Fail(stderr, "give either --to URI or --to-file FILE", ExitCodes.BadSettings);
            return null;
        }

        var text = to;
        var name = "--to";
        if (toFile is not null)
        {
            name = $"--to-file {toFile}";
            try
            {
                if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(toFile) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
                {
                    Fail(stderr, $"{name}: readable by group or others; chmod 600 it (it holds a password)", ExitCodes.BadSettings);
                    return null;
                }

                text = File.ReadLines(toFile).FirstOrDefault()?.Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Fail(stderr, $"{name}: {e.Message}", ExitCodes.BadSettings);
                return null;
            }

            if (string.IsNullOrEmpty(text))
            {
                Fail(stderr, $"{name}: empty (the first line is the URI or connection string)", ExitCodes.BadSettings);
                return null;
            }
        }

        if (!PostgresConnectionUri.TryConvert(text!, out var connectionString, out var error))
        {
            Fail(stderr, $"{name}: {error}", ExitCodes.BadSettings);
            return null;
        }

        return connectionString;
    }

    private static int Migrate(string dataDir, string connectionString, bool replace, bool json, TextWriter stdout, TextWriter stderr)
    {
        if (!File.Exists(Path.Combine(dataDir, "kldload.db")))
        {
            return Fail(stderr, $"--from litedb:{dataDir}: no kldload.db there; give the site's Kldload:DataDir", ExitCodes.Failed);
        }

        // Held for the whole copy: a kldload serve started meanwhile refuses to start, and one running now refuses the copy.
        using var dataLock = DataDirectoryLock.TryAcquire(dataDir);
        if (dataLock is null)
        {
            return Fail(stderr, $"{dataDir} is in use ({Path.Combine(dataDir, DataDirectoryLock.FileName)} is held): stop kldload serve there first; the migration copies a stopped site", ExitCodes.Failed);
        }

        PostgresKldloadDatabase pg;
        try
        {
            pg = PostgresKldloadDatabase.Open(connectionString, "--to");
        }
        catch (SettingBindException e)
        {
            return Fail(stderr, e.Message, ExitCodes.Failed);
        }

        using (pg)
        {
            try
            {
                var source = SiteSnapshot.FromDataDirectory(dataDir);
                // The stores' constructors create the tables (outside the copy's transaction: empty tables change nothing).
                _ = SiteSnapshot.FromPostgres(pg);
                var held = PostgresSiteImport.TablesWithRows(pg);
                if (held.Count > 0 && !replace)
                {
                    return Fail(stderr, $"{pg.Description} already holds kldload data (table {string.Join(", ", held)}); nothing was written. Use an empty database, or --replace to delete those rows first", ExitCodes.Failed);
                }

                pg.InTransaction(() =>
                {
                    if (replace)
                    {
                        PostgresSiteImport.DeleteAll(pg);
                    }

                    source.WriteTo(pg);
                    return 0;
                });

                var written = SiteSnapshot.FromPostgres(pg);
                var rows = source.Summary().Zip(written.Summary(), (s, t) => new Row(s.Kind, s.Count, t.Count, s.Digest, t.Digest)).ToList();
                var ok = rows.All(r => r.Match);
                if (!ok)
                {
                    // The copy is committed but differs: take it out again, so the target is as empty as it was found.
                    pg.InTransaction(() =>
                    {
                        PostgresSiteImport.DeleteAll(pg);
                        return 0;
                    });
                }

                Print(rows, ok, dataDir, pg.Description, json, stdout);
                return ok ? ExitCodes.Ok : Fail(stderr, "the copy read back from PostgreSQL differs from the source (kinds marked MISMATCH above); the target's kldload tables were emptied again", ExitCodes.Failed);
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or StorageSchemaException or IOException or UnauthorizedAccessException or InvalidOperationException or SettingBindException or Kldload.Dhcp.Leases.LeaseJournalException)
            {
                return Fail(stderr, $"migration failed, nothing was written to {pg.Description}: {e.Message}", ExitCodes.Failed);
            }
        }
    }

    private static void Print(List<Row> rows, bool ok, string dataDir, string target, bool json, TextWriter stdout)
    {
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(new
            {
                ok,
                from = dataDir,
                to = target,
                kinds = rows.Select(r => new { kind = r.Kind, source = r.Source, target = r.Target, sourceDigest = r.SourceDigest, targetDigest = r.TargetDigest, match = r.Match }),
            }, AdminClient.Json));
            return;
        }

        var width = rows.Max(r => r.Kind.Length);
        stdout.WriteLine($"{"kind".PadRight(width)}  {"source",8}  {"target",8}  digest");
        foreach (var r in rows)
        {
            stdout.WriteLine($"{r.Kind.PadRight(width)}  {r.Source,8}  {r.Target,8}  {(r.Match ? "match " + r.SourceDigest[..16] : "MISMATCH")}");
        }

        if (!ok)
        {
            return;
        }

        stdout.WriteLine();
        stdout.WriteLine($"copied {dataDir} to {target}. To serve from it, set:");
        stdout.WriteLine("  Database:Provider = PostgreSql");
        stdout.WriteLine("  Database:ConnectionStringFile = a 0600 file holding the connection string (or Database:ConnectionString)");
        stdout.WriteLine($"  Kldload:DataDir = {dataDir} (unchanged: image blobs, the mesh CA's key files, the admin token and the BMC key stay there)");
        stdout.WriteLine("kldload.db is left as it was; remove it only once the PostgreSQL instance serves.");
    }

    private static int Fail(TextWriter stderr, string message, int code)
    {
        stderr.WriteLine($"kldload: {message}");
        return code;
    }

    private sealed record Row(string Kind, int Source, int Target, string SourceDigest, string TargetDigest)
    {
        public bool Match => Source == Target && string.Equals(SourceDigest, TargetDigest, StringComparison.Ordinal);
    }
}
