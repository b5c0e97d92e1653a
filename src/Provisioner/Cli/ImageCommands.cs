using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kldload.ImageStore;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// <c>kldload image ...</c>: manage the image store in <c>{Kldload:DataDir}</c>. Works whether or not
/// a server runs on the same data directory: with none, the command takes the data directory's lock
/// and opens kldload.db itself; while a server holds it (and so the database, in LiteDB direct mode),
/// blobs are still read and written here and every catalog read and change, garbage collection and
/// verification go through the server's admin API (<see cref="RemoteImageCatalog"/>). Exit codes:
/// 0 done, 1 failed, 2 usage or settings; every error is one line on standard error.
/// </summary>
internal static class ImageCommands
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The <c>image</c> command and its subcommands.</summary>
    public static Command Create()
    {
        var image = new Command("image", "Manage live images: import, list, show, promote, rollback, rollout, export, gc, verify, delete, keygen.");
        image.Subcommands.Add(Import());
        image.Subcommands.Add(List());
        image.Subcommands.Add(Show());
        image.Subcommands.Add(Promote());
        image.Subcommands.Add(Rollback());
        image.Subcommands.Add(RolloutCommands.Create());
        image.Subcommands.Add(Export());
        image.Subcommands.Add(Gc());
        image.Subcommands.Add(Verify());
        image.Subcommands.Add(Delete());
        image.Subcommands.Add(Keygen());
        return image;
    }

    private static Command Import()
    {
        var path = new Argument<string>("PATH") { Description = "A directory (kernel or vmlinuz*, initrd*, optional rootfs*, optional manifest.json) or a bundle file." };
        var name = new Option<string?>("--name") { Description = "Image name (directory import; default from manifest.json)." };
        var version = new Option<string?>("--version") { Description = "Image version (directory import; default from manifest.json)." };
        var cmdline = new Option<string?>("--cmdline") { Description = "Kernel command line (directory import)." };
        var notes = new Option<string?>("--notes") { Description = "Free text kept with the image (directory import)." };
        var arch = new Option<string?>("--arch") { Description = "Architecture (directory import; default x86_64 or manifest.json)." };
        var channel = new Option<string?>("--channel") { Description = "Promote the imported image to this channel." };
        var quiet = QuietOption();
        var c = new Command("import", "Import an image from a directory or a signed bundle.") { path, name, version, cmdline, notes, arch, channel, quiet };
        c.SetAction((parse, ct) => RunAsync(parse, "import", async (ctx, stdout, stderr) =>
        {
            var source = parse.GetValue(path)!;
            var by = Operator();
            IReadOnlyList<ImageManifest> images;
            string? bundleChannel = null;
            if (Directory.Exists(source))
            {
                var options = new DirectoryImportOptions
                {
                    Name = parse.GetValue(name),
                    Version = parse.GetValue(version),
                    CommandLine = parse.GetValue(cmdline),
                    Notes = parse.GetValue(notes),
                    Architecture = parse.GetValue(arch),
                };
                var result = await ImageProgress.RunAsync(stderr, parse.GetValue(quiet), p => ctx.Store.ImportDirectoryAsync(source, options, by, p, ct)).ConfigureAwait(false);
                images = result.Images;
                await stdout.WriteLineAsync($"imported {images[0].Key}: {result.BlobsWritten} blob(s) written, {result.BlobsAlreadyPresent} already present").ConfigureAwait(false);
            }
            else if (File.Exists(source))
            {
                if (parse.GetValue(name) is not null || parse.GetValue(version) is not null || parse.GetValue(cmdline) is not null || parse.GetValue(notes) is not null || parse.GetValue(arch) is not null)
                {
                    throw new UsageException("--name, --version, --cmdline, --notes and --arch apply to directory imports; a bundle carries its own manifests");
                }

                var trusted = TrustedKeys.Load(ctx.Config.Images.TrustedKeysDir);
                foreach (var problem in trusted.Problems)
                {
                    await stderr.WriteLineAsync($"kldload: warning: skipping trusted key {problem}").ConfigureAwait(false);
                }

                var result = await ImageProgress.RunAsync(stderr, parse.GetValue(quiet), p => ctx.Store.ImportBundleAsync(source, trusted, by, p, ct)).ConfigureAwait(false);
                images = result.Images;
                bundleChannel = result.Channel;
                await stdout.WriteLineAsync($"imported bundle signed by {result.SignerId}: {string.Join(", ", result.Images.Select(i => i.Key + (result.Added.Contains(i) ? string.Empty : " (already present)")))}; {result.BlobsWritten} blob(s) written").ConfigureAwait(false);
            }
            else
            {
                throw new ImageImportException($"{source}: no such file or directory");
            }

            foreach (var m in images)
            {
                await stdout.WriteLineAsync($"  {m.Key}: kernel {m.Kernel} ({m.KernelSize} B), initrd {m.Initrd} ({m.InitrdSize} B){(m.Rootfs is { } r ? $", rootfs {r} ({m.RootfsSize} B)" : string.Empty)}, authenticode {m.KernelAuthenticode?.ToString() ?? "none (kernel is not a PE image)"}").ConfigureAwait(false);
            }

            if (parse.GetValue(channel) is { } target)
            {
                var chosen = images.Count == 1 ? images[0]
                    : throw new ImageCatalogException($"--channel {target}: the bundle holds {images.Count} images; promote one with 'kldload image promote NAME VERSION --channel {target}'");
                if (bundleChannel is not null && bundleChannel != target)
                {
                    await stderr.WriteLineAsync($"kldload: note: the bundle was exported from channel {bundleChannel}; promoting to {target} as asked").ConfigureAwait(false);
                }

                if (ctx.Store.Catalog.GetChannel(target)?.Current != chosen.Key)
                {
                    var change = ctx.Store.Catalog.Promote(target, chosen.Key, by);
                    await stdout.WriteLineAsync($"channel {target}: {change.From?.ToString() ?? "(new)"} -> {change.To}").ConfigureAwait(false);
                }
            }

            return ExitCodes.Ok;
        }));
        return c;
    }

    private static Command List()
    {
        var json = JsonOption();
        var c = new Command("list", "List images and the channels pointing at them.") { json };
        c.SetAction((parse, ct) => RunAsync(parse, "list", async (ctx, stdout, _) =>
        {
            var images = ctx.Store.Catalog.List();
            var channels = ctx.Store.Catalog.ListChannels();
            if (parse.GetValue(json))
            {
                var doc = new JsonObject
                {
                    ["images"] = new JsonArray(images.Select(m => (JsonNode)WithChannels(ManifestJson.Write(m), m, channels)).ToArray()),
                    ["channels"] = new JsonArray(channels.Select(c => (JsonNode)ChannelJson(c)).ToArray()),
                };
                await stdout.WriteLineAsync(doc.ToJsonString(Indented)).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            if (images.Count == 0)
            {
                await stdout.WriteLineAsync("no images (import one with 'kldload image import DIR --name N --version V')").ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            await stdout.WriteLineAsync($"{"NAME",-20} {"VERSION",-16} {"ARCH",-8} {"CREATED",-20} {"KERNEL",-12} {"INITRD",-12} CHANNELS").ConfigureAwait(false);
            foreach (var m in images)
            {
                var on = string.Join(",", channels.Where(c => c.Current == m.Key).Select(c => c.Name));
                await stdout.WriteLineAsync($"{m.Name,-20} {m.Version,-16} {m.Architecture,-8} {m.Created.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),-20} {m.Kernel.ToString()[..12]} {m.Initrd.ToString()[..12]} {on}").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }));
        return c;
    }

    private static Command Show()
    {
        var name = new Argument<string?>("NAME") { Arity = ArgumentArity.ZeroOrOne };
        var version = new Argument<string?>("VERSION") { Arity = ArgumentArity.ZeroOrOne };
        var channel = new Option<string?>("--channel") { Description = "Show the image this channel points at, and the channel's history." };
        var json = JsonOption();
        var c = new Command("show", "Show one image (NAME VERSION) or a channel (--channel C).") { name, version, channel, json };
        c.SetAction((parse, ct) => RunAsync(parse, "show", async (ctx, stdout, _) =>
        {
            var ch = parse.GetValue(channel);
            var (n, v) = (Positional(parse.GetValue(name)), Positional(parse.GetValue(version)));
            if ((ch is null) == (n is null || v is null) || (ch is not null && n is not null))
            {
                throw new UsageException("give either NAME VERSION or --channel C");
            }

            ChannelState? state = null;
            ImageManifest m;
            if (ch is not null)
            {
                state = ctx.Store.Catalog.GetChannel(ch) ?? throw new ImageCatalogException($"channel {ch} does not exist");
                m = ctx.Store.Catalog.Get(state.Current) ?? throw new ImageCatalogException($"channel {ch} points at {state.Current}, which no longer exists");
            }
            else
            {
                m = ctx.Store.Catalog.Get(new ImageKey(n!, v!)) ?? throw new ImageCatalogException($"image {n}/{v} does not exist");
            }

            var channels = ctx.Store.Catalog.ListChannels();
            var history = state is null ? [] : ctx.Store.Catalog.GetChannelHistory(state.Name);
            if (parse.GetValue(json))
            {
                var doc = WithChannels(ManifestJson.Write(m), m, channels);
                if (state is not null)
                {
                    doc["channel"] = ChannelJson(state);
                    doc["history"] = new JsonArray(history.Select(h => (JsonNode)new JsonObject
                    {
                        ["action"] = h.Action.ToString().ToLowerInvariant(),
                        ["from"] = h.From?.ToString(),
                        ["to"] = h.To.ToString(),
                        ["by"] = h.By,
                        ["at"] = h.At.ToString("O", CultureInfo.InvariantCulture),
                    }).ToArray());
                }

                await stdout.WriteLineAsync(doc.ToJsonString(Indented)).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            if (state is not null)
            {
                await stdout.WriteLineAsync($"channel      {state.Name} -> {state.Current} (rollback to {(state.Previous.Count > 0 ? state.Previous[0].ToString() : "nothing")})").ConfigureAwait(false);
            }

            await stdout.WriteLineAsync($"image        {m.Key}").ConfigureAwait(false);
            await stdout.WriteLineAsync($"architecture {m.Architecture}").ConfigureAwait(false);
            await stdout.WriteLineAsync($"created      {m.Created.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)}").ConfigureAwait(false);
            await stdout.WriteLineAsync($"kernel       {m.Kernel} ({m.KernelSize} B)").ConfigureAwait(false);
            await stdout.WriteLineAsync($"authenticode {m.KernelAuthenticode?.ToString() ?? "none (kernel is not a PE image)"}").ConfigureAwait(false);
            await stdout.WriteLineAsync($"initrd       {m.Initrd} ({m.InitrdSize} B)").ConfigureAwait(false);
            if (m.Rootfs is { } r)
            {
                await stdout.WriteLineAsync($"rootfs       {r} ({m.RootfsSize} B)").ConfigureAwait(false);
            }

            await stdout.WriteLineAsync($"cmdline      {m.CommandLine}").ConfigureAwait(false);
            await stdout.WriteLineAsync($"notes        {m.Notes}").ConfigureAwait(false);
            await stdout.WriteLineAsync($"channels     {string.Join(", ", channels.Where(c => c.Current == m.Key).Select(c => c.Name))}").ConfigureAwait(false);
            foreach (var h in history)
            {
                await stdout.WriteLineAsync($"history      {h.At.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)} {h.Action.ToString().ToLowerInvariant()} {h.From?.ToString() ?? "(new)"} -> {h.To} by {h.By}").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }));
        return c;
    }

    private static Command Promote()
    {
        var name = new Argument<string>("NAME");
        var version = new Argument<string>("VERSION");
        var channel = RequiredChannel();
        var rollout = new RolloutCommands.Options();
        var c = new Command("promote", "Point a channel at an image version (the old one becomes the rollback target); with --rollout, rebuild the channel's nodes onto it.") { name, version, channel };
        rollout.AddTo(c);
        c.SetAction(async (parse, ct) =>
        {
            if (rollout.Check(parse, out var timeout) is { } usage)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"kldload: image promote: {usage}").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            if (parse.GetValue(rollout.Rollout))
            {
                return await RolloutCommands.StartAsync(parse, rollout, "promote", parse.GetValue(channel)!, parse.GetValue(name), parse.GetValue(version), timeout, ct).ConfigureAwait(false);
            }

            return await RunAsync(parse, "promote", async (ctx, stdout, _) =>
            {
                var change = ctx.Store.Catalog.Promote(parse.GetValue(channel)!, new ImageKey(parse.GetValue(name)!, parse.GetValue(version)!), Operator());
                await stdout.WriteLineAsync($"channel {change.Channel}: {change.From?.ToString() ?? "(new)"} -> {change.To}").ConfigureAwait(false);
                return ExitCodes.Ok;
            }).ConfigureAwait(false);
        });
        return c;
    }

    private static Command Rollback()
    {
        var channel = RequiredChannel();
        var rollout = new RolloutCommands.Options();
        var c = new Command("rollback", "Point a channel back at the version it had before the last promotion; with --rollout, rebuild the channel's nodes onto it.") { channel };
        rollout.AddTo(c);
        c.SetAction(async (parse, ct) =>
        {
            if (rollout.Check(parse, out var timeout) is { } usage)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"kldload: image rollback: {usage}").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            if (parse.GetValue(rollout.Rollout))
            {
                return await RolloutCommands.StartAsync(parse, rollout, "rollback", parse.GetValue(channel)!, null, null, timeout, ct).ConfigureAwait(false);
            }

            return await RunAsync(parse, "rollback", async (ctx, stdout, _) =>
            {
                var change = ctx.Store.Catalog.Rollback(parse.GetValue(channel)!, Operator());
                await stdout.WriteLineAsync($"channel {change.Channel}: {change.From} -> {change.To} (rolled back)").ConfigureAwait(false);
                return ExitCodes.Ok;
            }).ConfigureAwait(false);
        });
        return c;
    }

    private static Command Export()
    {
        var channel = new Option<string?>("--channel") { Description = "Export the image this channel points at." };
        var version = new Option<string?>("--version") { Description = "Export this version: NAME/VERSION, or VERSION with --name." };
        var name = new Option<string?>("--name") { Description = "Image name, with --version VERSION." };
        var output = new Option<string>("--output", "-o") { Description = "Bundle file to write (.tar, .tar.gz or .tar.zst).", Required = true, HelpName = "FILE" };
        var sign = new Option<string>("--sign") { Description = "PEM private key (Ed25519 or ECDSA P-256) to sign the bundle with.", Required = true, HelpName = "KEY" };
        var quiet = QuietOption();
        var c = new Command("export", "Write a signed bundle of an image for air-gapped import.") { channel, version, name, output, sign, quiet };
        c.SetAction((parse, ct) => RunAsync(parse, "export", async (ctx, stdout, stderr) =>
        {
            var (ch, v, n) = (parse.GetValue(channel), parse.GetValue(version), parse.GetValue(name));
            if ((ch is null) == (v is null))
            {
                throw new UsageException("give either --channel C or --version NAME/VERSION");
            }

            ImageManifest m;
            if (ch is not null)
            {
                m = ctx.Store.Catalog.Resolve(ch) ?? throw new ImageCatalogException($"channel {ch} does not exist");
            }
            else
            {
                var key = n is not null ? new ImageKey(n, v!)
                    : v!.Split('/') is [var a, var b] ? new ImageKey(a, b)
                    : throw new UsageException("--version takes NAME/VERSION (or use --name NAME --version VERSION)");
                m = ctx.Store.Catalog.Get(key) ?? throw new ImageCatalogException($"image {key} does not exist");
            }

            BundleSigningKey signer;
            try
            {
                signer = BundleSigningKey.Load(parse.GetValue(sign)!);
            }
            catch (FileNotFoundException)
            {
                throw new BundleException($"signing key {parse.GetValue(sign)}: no such file");
            }

            using (signer)
            {
                var file = parse.GetValue(output)!;
                await ImageProgress.RunAsync(stderr, parse.GetValue(quiet), async p =>
                {
                    await ctx.Store.ExportAsync([m], file, signer, ch, p, ct).ConfigureAwait(false);
                    return 0;
                }).ConfigureAwait(false);
                await stdout.WriteLineAsync($"exported {m.Key} to {Path.GetFullPath(file)} ({new FileInfo(file).Length} B), signed by key {signer.Id}").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }));
        return c;
    }

    private static Command Gc()
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "Only report what would be removed." };
        var minAge = new Option<TimeSpan>("--min-age")
        {
            Description = "Spare unreferenced blobs younger than this (an import in progress elsewhere). Default 00:10:00.",
            DefaultValueFactory = _ => TimeSpan.FromMinutes(10),
        };
        var json = JsonOption();
        var c = new Command("gc", "Remove blobs no image, channel, pinned profile or node still needs.") { dryRun, minAge, json };
        c.SetAction((parse, ct) => RunAsync(parse, "gc", async (ctx, stdout, _) =>
        {
            var dry = parse.GetValue(dryRun);
            var report = ctx.Remote?.CollectGarbage(dry, parse.GetValue(minAge)) ?? ctx.Store.CollectGarbage(dry, parse.GetValue(minAge));
            if (parse.GetValue(json))
            {
                var doc = new JsonObject
                {
                    ["dryRun"] = dry,
                    ["removed"] = new JsonArray(report.Removed.Select(r => (JsonNode)new JsonObject { ["digest"] = r.Digest.ToString(), ["size"] = r.Size }).ToArray()),
                    ["bytesRemoved"] = report.BytesRemoved,
                    ["kept"] = report.Kept,
                    ["tempFilesRemoved"] = new JsonArray(report.TempFilesRemoved.Select(t => (JsonNode)JsonValue.Create(t)).ToArray()),
                };
                await stdout.WriteLineAsync(doc.ToJsonString(Indented)).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var verb = dry ? "would remove" : "removed";
            foreach (var (digest, size) in report.Removed)
            {
                await stdout.WriteLineAsync($"{verb} blob {digest} ({size} B)").ConfigureAwait(false);
            }

            foreach (var t in report.TempFilesRemoved)
            {
                await stdout.WriteLineAsync($"{verb} leftover {t}").ConfigureAwait(false);
            }

            await stdout.WriteLineAsync($"{verb} {report.Removed.Count} blob(s), {PlainTransferProgress.Size(report.BytesRemoved)}; kept {report.Kept}").ConfigureAwait(false);
            return ExitCodes.Ok;
        }));
        return c;
    }

    private static Command Verify()
    {
        var quiet = QuietOption();
        var json = JsonOption();
        var c = new Command("verify", "Re-hash every blob and report missing or corrupt ones by image.") { quiet, json };
        c.SetAction((parse, ct) => RunAsync(parse, "verify", async (ctx, stdout, stderr) =>
        {
            IReadOnlyList<BlobProblem> problems;
            int blobs, imageCount;
            if (ctx.Remote is { } remote)
            {
                (problems, blobs, imageCount) = remote.Verify();
            }
            else
            {
                problems = await ImageProgress.RunAsync(stderr, parse.GetValue(quiet), p => ctx.Store.VerifyAsync(p, ct)).ConfigureAwait(false);
                (blobs, imageCount) = (ctx.Store.ReferencedBlobs().Count, ctx.Store.Catalog.List().Count);
            }

            if (parse.GetValue(json))
            {
                var doc = new JsonObject
                {
                    ["blobs"] = blobs,
                    ["images"] = imageCount,
                    ["problems"] = new JsonArray(problems.Select(p => (JsonNode)new JsonObject
                    {
                        ["digest"] = p.Digest.ToString(),
                        ["problem"] = p.Problem,
                        ["images"] = new JsonArray(p.Images.Select(i => (JsonNode)JsonValue.Create(i.ToString())).ToArray()),
                    }).ToArray()),
                };
                await stdout.WriteLineAsync(doc.ToJsonString(Indented)).ConfigureAwait(false);
                return problems.Count > 0 ? ExitCodes.Failed : ExitCodes.Ok;
            }

            foreach (var p in problems)
            {
                await stdout.WriteLineAsync($"blob {p.Digest}: {p.Problem}; needed by {string.Join(", ", p.Images)}").ConfigureAwait(false);
            }

            if (problems.Count > 0)
            {
                await stderr.WriteLineAsync($"kldload: image verify: {problems.Count} blob(s) missing or corrupt; affected images: {string.Join(", ", problems.SelectMany(p => p.Images).Distinct())}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }

            await stdout.WriteLineAsync($"all {blobs} blob(s) of {imageCount} image(s) verified").ConfigureAwait(false);
            return ExitCodes.Ok;
        }));
        return c;
    }

    private static Command Delete()
    {
        var name = new Argument<string>("NAME");
        var version = new Argument<string>("VERSION");
        var c = new Command("delete", "Remove an image version no channel uses (its blobs go at the next gc).") { name, version };
        c.SetAction((parse, ct) => RunAsync(parse, "delete", async (ctx, stdout, _) =>
        {
            var key = new ImageKey(parse.GetValue(name)!, parse.GetValue(version)!);
            ctx.Store.Catalog.Delete(key, Operator(), ctx.Store.ReferenceSources);
            await stdout.WriteLineAsync($"deleted {key}; run 'kldload image gc' to free its blobs").ConfigureAwait(false);
            return ExitCodes.Ok;
        }));
        return c;
    }

    private static Command Keygen()
    {
        var output = new Option<string>("--output", "-o") { Description = "Path prefix: writes PREFIX.key (private, mode 0600) and PREFIX.pub.", Required = true, HelpName = "PREFIX" };
        var c = new Command("keygen", "Create an Ed25519 key pair for signing bundles.") { output };
        c.SetAction(async (parse, ct) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var prefix = parse.GetValue(output)!;
            try
            {
                var (priv, pub) = BundleSigningKey.CreateEd25519();
                var keyPath = prefix + ".key";
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                await using (var w = new StreamWriter(keyPath, options))
                {
                    await w.WriteAsync(priv).ConfigureAwait(false);
                }

                await File.WriteAllTextAsync(prefix + ".pub", pub, ct).ConfigureAwait(false);
                var id = BundlePublicKey.TryParsePem(pub, prefix + ".pub", out _)!.Id;
                await stdout.WriteLineAsync($"wrote {Path.GetFullPath(keyPath)} (keep it secret) and {Path.GetFullPath(prefix + ".pub")}; key id {id}").ConfigureAwait(false);
                await stdout.WriteLineAsync("importing sites trust it once the .pub file is in their Images:TrustedKeysDir").ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            catch (IOException e)
            {
                await stderr.WriteLineAsync($"kldload: image keygen: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
        });
        return c;
    }

    private static Option<bool> JsonOption() => new("--json") { Description = "Print JSON." };

    private static Option<bool> QuietOption() => new("--quiet", "-q") { Description = "No progress output." };

    private static Option<string> RequiredChannel() => new("--channel") { Description = "Channel name.", Required = true };

    private static JsonObject WithChannels(JsonObject o, ImageManifest m, IReadOnlyList<ChannelState> channels)
    {
        o["channels"] = new JsonArray(channels.Where(c => c.Current == m.Key).Select(c => (JsonNode)JsonValue.Create(c.Name)).ToArray());
        return o;
    }

    private static JsonObject ChannelJson(ChannelState c) => new()
    {
        ["name"] = c.Name,
        ["current"] = c.Current.ToString(),
        ["previous"] = new JsonArray(c.Previous.Select(p => (JsonNode)JsonValue.Create(p.ToString())).ToArray()),
        ["updatedBy"] = c.UpdatedBy,
        ["updatedAt"] = c.UpdatedAt.ToString("O", CultureInfo.InvariantCulture),
    };

    /// <summary>Who made a change, as recorded in the history.</summary>
    private static string Operator() => $"{Environment.UserName}@{Environment.MachineName} (cli)";

    /// <summary>Loads settings, opens the database and store, runs a subcommand and maps failures to one line and an exit code.</summary>
    private static async Task<int> RunAsync(ParseResult parse, string verb, Func<ImageCliContext, TextWriter, TextWriter, Task<int>> body)
    {
        var stdout = parse.InvocationConfiguration.Output;
        var stderr = parse.InvocationConfiguration.Error;
        // Optional positional arguments (show NAME VERSION) also take up --Section:Key=value tokens.
        var overrides = parse.Tokens.Where(t => t.Type == System.CommandLine.Parsing.TokenType.Argument && IsSettingOverride(t.Value)).Select(t => t.Value)
            .Concat(SettingOverrides.From(parse.UnmatchedTokens)).Distinct().ToList();
        var config = KldloadCli.LoadOrReport(overrides, stderr);
        if (config is null)
        {
            return ExitCodes.BadSettings;
        }

        try
        {
            using var access = await OpenAsync(config, stderr, CancellationToken.None).ConfigureAwait(false);
            return await body(new ImageCliContext(config, access.Store, access.Remote), stdout, stderr).ConfigureAwait(false);
        }
        catch (UsageException e)
        {
            await stderr.WriteLineAsync($"kldload: image {verb}: {e.Message}").ConfigureAwait(false);
            return ExitCodes.BadSettings;
        }
        catch (Exception e) when (e is ImageImportException or BundleException or ImageCatalogException or IOException or UnauthorizedAccessException or JsonException or LiteDB.LiteException or Npgsql.NpgsqlException or StorageSchemaException or SettingBindException or AdminApiException)
        {
            await stderr.WriteLineAsync($"kldload: image {verb}: {OneLine(e.Message)}").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
        catch (OperationCanceledException)
        {
            await stderr.WriteLineAsync($"kldload: image {verb}: cancelled; nothing partial was published").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
    }

    /// <summary>How long a command waits for the data directory's lock held by another CLI command (not a server).</summary>
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The image store this command works on: with the data directory's lock free, the lock (held
    /// until the command ends, so no server starts meanwhile) and kldload.db opened here; with the
    /// lock held by a server, the catalog of that server through its admin API, at the URL it
    /// published next to the lock. A lock held by a process that published no URL (another CLI
    /// command) is waited for briefly.
    /// </summary>
    internal static async Task<StoreAccess> OpenAsync(KldloadConfiguration config, TextWriter stderr, CancellationToken ct)
    {
        var dataDir = config.Kldload.DataDir;
        var deadline = DateTime.UtcNow + LockWait;
        while (true)
        {
            if (DataDirectoryLock.TryAcquire(dataDir) is { } dataLock)
            {
                try
                {
                    // The inventory's references (pinned and last-booted images) protect blobs from gc
                    // here exactly as in the server.
                    if (config.Database.Provider == DatabaseProvider.PostgreSql)
                    {
                        var pg = PostgresKldloadDatabase.Open(config.Database.ConnectionString!, config.Database.ConnectionStringKey);
                        var nodes = new PostgresNodeStore(pg);
                        var catalog = new Storage.Postgres.PostgresImageCatalogStore(pg);
                        return new StoreAccess(new LiveImageStore(config.Images.Root, catalog, TimeProvider.System, [new InventoryImageReferences(nodes, nodes)]), null, [pg, dataLock]);
                    }

                    var db = LiteKldloadDatabase.Open(config.Kldload.DatabasePath);
                    var inventory = new LiteDbNodeStore(db);
                    var store = new LiveImageStore(config.Images.Root, new LiteDbImageCatalogStore(db.Database), TimeProvider.System, [new InventoryImageReferences(inventory, inventory)]);
                    return new StoreAccess(store, null, [db, dataLock]);
                }
                catch
                {
                    dataLock.Dispose();
                    throw;
                }
            }

            if (DataDirectoryLock.ReadPublishedUrl(dataDir) is { } url)
            {
                var token = AdminToken.TryRead(config.Auth.AdminTokenFile)
                    ?? throw new AdminApiException(0, $"kldload serve is running on {dataDir} and holds its database; reading the admin token {config.Auth.AdminTokenFile} to ask it failed (run as a user who can read it, or set Auth:AdminTokenFile)");
                var remote = new RemoteImageCatalog(url, token, KnownServers.For(config, stderr));
                return new StoreAccess(new LiveImageStore(config.Images.Root, remote, TimeProvider.System), remote, [remote]);
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new IOException($"{Path.Combine(dataDir, DataDirectoryLock.FileName)} is held by a process that publishes no admin URL (another kldload image or backup command still running, or a kldload serve still starting); try again when it has finished");
            }

            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    private static bool IsSettingOverride(string token) => token.StartsWith("--", StringComparison.Ordinal) && token.Contains(':', StringComparison.Ordinal);

    private static string? Positional(string? value) => value is not null && IsSettingOverride(value) ? null : value;

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();

    /// <summary>What a subcommand works on; <c>Remote</c> is the running server's catalog when the command goes through it, else null.</summary>
    private sealed record ImageCliContext(KldloadConfiguration Config, LiveImageStore Store, RemoteImageCatalog? Remote);

    /// <summary>The store of one command and what to release when it ends.</summary>
    internal sealed record StoreAccess(LiveImageStore Store, RemoteImageCatalog? Remote, IReadOnlyList<IDisposable> Owned) : IDisposable
    {
        public void Dispose()
        {
            foreach (var o in Owned)
            {
                o.Dispose();
            }
        }
    }

    /// <summary>The command line is wrong in a way the parser cannot see (exit code 2).</summary>
    private sealed class UsageException(string message) : Exception(message);
}
