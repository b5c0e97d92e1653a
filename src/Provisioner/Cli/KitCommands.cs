using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Kldload.ImageStore;
using Kldload.Provisioner.Kit;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// <c>kldload kit export</c> and <c>kldload kit import</c>: the air-gapped site kit (see
/// <see cref="KitFormat"/>). Export gathers the package, the loaders this site serves, one signed
/// image bundle per image of the chosen channels and the EK roots into one signed file; import
/// checks the signature, every entry's digest and that the kit is not older than the last one
/// imported, and only then installs. Exit codes: 0 done, 1 refused or failed (one line saying why),
/// 2 usage or settings.
/// </summary>
internal static class KitCommands
{
    /// <summary>The <c>kit</c> command and its subcommands.</summary>
    public static Command Create()
    {
        var kit = new Command("kit", "The air-gapped site kit: one signed file with the package, loaders, images and EK roots.");
        kit.Subcommands.Add(Export());
        kit.Subcommands.Add(Import());
        return kit;
    }

    private static Command Export()
    {
        var output = new Option<string>("--output", "-o") { Description = "The kit file to write (written as a hidden partial file, renamed when complete).", Required = true, HelpName = "FILE" };
        var channel = new Option<string[]>("--channel") { Description = "Put this channel's image in the kit (repeatable; default every channel).", AllowMultipleArgumentsPerToken = false };
        var sign = new Option<string>("--sign") { Description = "Private key (PEM, Ed25519 or ECDSA P-256) that signs the kit and its image bundles.", Required = true, HelpName = "KEY" };
        var package = new Option<string?>("--package") { Description = "The Debian package to carry (make deb writes out/deb/kldload_<version>_amd64.deb).", HelpName = "FILE" };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output." };
        var c = new Command("export", "Write a signed kit: the package, the boot loaders served here, the chosen channels' images and the EK roots.") { output, channel, sign, package, json, quiet };
        c.SetAction((parse, ct) => RunAsync(parse, "export", async (config, stdout, stderr) =>
        {
            BundleSigningKey signer;
            try
            {
                signer = BundleSigningKey.Load(parse.GetValue(sign)!);
            }
            catch (FileNotFoundException)
            {
                throw new KitException($"signing key {parse.GetValue(sign)}: no such file");
            }

            using (signer)
            {
                var file = Path.GetFullPath(parse.GetValue(output)!);
                var notes = new List<string>();
                var sources = new List<KitSource>();
                if (parse.GetValue(package) is { } pkg)
                {
                    if (!File.Exists(pkg))
                    {
                        throw new KitException($"--package {pkg}: no such file");
                    }

                    var name = Path.GetFileName(pkg);
                    sources.Add(new KitSource(KitEntryKind.Package, "package/" + name, name, pkg));
                }
                else
                {
                    notes.Add("no --package given: the kit carries no Debian package");
                }

                sources.AddRange(Loaders(config, notes));
                sources.AddRange(EkRoots(config, notes));

                var parts = Path.Combine(Path.GetDirectoryName(file)!, $".{Path.GetFileName(file)}.parts-{Environment.ProcessId}");
                Directory.CreateDirectory(parts);
                try
                {
                    using (var access = await ImageCommands.OpenAsync(config, Console.Error, ct).ConfigureAwait(false))
                    {
                        var store = access.Store;
                        var names = parse.GetValue(channel) is { Length: > 0 } chosen ? chosen.Distinct().ToList() : store.Catalog.ListChannels().Select(ch => ch.Name).ToList();
                        var byImage = new List<(ImageManifest Image, List<string> Channels)>();
                        foreach (var ch in names)
                        {
                            var m = store.Catalog.Resolve(ch) ?? throw new KitException($"channel {ch} does not exist");
                            if (byImage.FirstOrDefault(g => g.Image.Key == m.Key) is { Image: not null } group)
                            {
                                group.Channels.Add(ch);
                            }
                            else
                            {
                                byImage.Add((m, [ch]));
                            }
                        }

                        if (byImage.Count == 0)
                        {
                            notes.Add("no channel exists: the kit carries no images");
                        }

                        foreach (var (m, chs) in byImage)
                        {
                            var name = $"{m.Key.Name}_{m.Key.Version}.bundle.tar".Replace('/', '_');
                            var bundle = Path.Combine(parts, name);
                            await ImageProgress.RunAsync(stderr, parse.GetValue(quiet), async p =>
                            {
                                await store.ExportAsync([m], bundle, signer, chs[0], p, ct).ConfigureAwait(false);
                                return 0;
                            }).ConfigureAwait(false);
                            sources.Add(new KitSource(KitEntryKind.ImageBundle, "images/" + name, name, bundle) { Image = m.Key.ToString(), Channels = chs });
                        }
                    }

                    var index = await KitWriter.WriteAsync(file, sources, signer, new KitVersion(BuildInfo.Version, DateTimeOffset.UtcNow), BuildInfo.Commit, ct).ConfigureAwait(false);
                    var size = new FileInfo(file).Length;
                    if (parse.GetValue(json))
                    {
                        var doc = new JsonObject
                        {
                            ["file"] = file,
                            ["size"] = size,
                            ["signer"] = signer.Id,
                            ["kit"] = index.ToJson(),
                            ["notes"] = new JsonArray(notes.Select(n => (JsonNode)JsonValue.Create(n)).ToArray()),
                        };
                        await stdout.WriteLineAsync(doc.ToJsonString(KitFormat.Indented)).ConfigureAwait(false);
                        return ExitCodes.Ok;
                    }

                    await stdout.WriteLineAsync($"wrote kit {index.Version} to {file} ({size} B), signed by key {signer.Id}").ConfigureAwait(false);
                    foreach (var e in index.Entries)
                    {
                        await stdout.WriteLineAsync($"  {KitEntryKindNames.ToText(e.Kind)} {Describe(e)} ({e.Size} B, sha256 {e.Sha256[..16]}...)").ConfigureAwait(false);
                    }

                    foreach (var n in notes)
                    {
                        await stdout.WriteLineAsync($"note: {n}").ConfigureAwait(false);
                    }

                    return ExitCodes.Ok;
                }
                finally
                {
                    Directory.Delete(parts, recursive: true);
                }
            }
        }));
        return c;
    }

    /// <summary>The loaders this site serves: <c>Boot:Loaders:*</c> under <c>Tftp:Root</c> and the signed shim and GRUB of <c>Boot:Grub</c>, those present.</summary>
    private static IEnumerable<KitSource> Loaders(KldloadConfiguration config, List<string> notes)
    {
        var root = Path.GetFullPath(config.Tftp.Root).TrimEnd('/') + "/";
        var l = config.Boot.Loaders;
        foreach (var name in new[] { l.Bios, l.EfiX64, l.EfiArm64, l.EfiX64Http }.Distinct(StringComparer.Ordinal))
        {
            var path = Path.Combine(root, name);
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                notes.Add($"loader {name} is not in Tftp:Root ({root}): not in the kit");
                continue;
            }

            // The TFTP and /tftp/ file source refuses links that leave the root; so does the kit.
            var real = info.LinkTarget is null ? info.FullName : info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
            if (real is null || !real.StartsWith(root, StringComparison.Ordinal))
            {
                notes.Add($"loader {name} links out of Tftp:Root ({real}), so it is not served: not in the kit");
                continue;
            }

            yield return new KitSource(KitEntryKind.Loader, "loaders/tftp/" + name, name, real) { Target = KitLoaderTargets.Tftp };
        }

        foreach (var (target, path, name) in new[] { (KitLoaderTargets.ShimX64, config.Boot.Grub.ShimX64, "shimx64.efi"), (KitLoaderTargets.GrubX64, config.Boot.Grub.GrubX64, "grubx64.efi") })
        {
            if (File.Exists(path))
            {
                yield return new KitSource(KitEntryKind.Loader, $"loaders/{target}/{name}", name, path) { Target = target };
            }
            else
            {
                notes.Add($"{path} (Boot:Grub:{(target == KitLoaderTargets.ShimX64 ? "ShimX64" : "GrubX64")}) is missing: not in the kit");
            }
        }
    }

    private static IEnumerable<KitSource> EkRoots(KldloadConfiguration config, List<string> notes)
    {
        if (config.Attestation.EkRootsDir is not { } dir)
        {
            notes.Add("Attestation:EkRootsDir is not set: the kit carries no EK roots");
            yield break;
        }

        foreach (var path in Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            if (new FileInfo(path).LinkTarget is null && KitIndex.IsPlainFileName(name))
            {
                yield return new KitSource(KitEntryKind.EkRoot, "ek-roots/" + name, name, path);
            }
        }
    }

    private static Command Import()
    {
        var file = new Argument<string>("FILE") { Description = "A kit written by 'kldload kit export'." };
        var trustedKeys = new Option<string?>("--trusted-keys") { Description = "Directory of trusted public keys (default Images:TrustedKeysDir).", HelpName = "DIR" };
        var allowDowngrade = new Option<bool>("--allow-downgrade") { Description = "Import a kit older than the last one imported here." };
        var installPackage = new Option<bool>("--install-package") { Description = "Run 'dpkg -i' on the kit's package (as root); without it the package is only copied to {DataDir}/packages." };
        var installRoot = new Option<string?>("--install-root") { Description = "With --install-package: install into this root (dpkg --root), a chroot or an image being prepared, instead of this system.", HelpName = "DIR" };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output." };
        var c = new Command("import", "Verify a kit (signature by a trusted key, every digest, not older than the installed kit) and install it.") { file, trustedKeys, allowDowngrade, installPackage, installRoot, json, quiet };
        c.SetAction((parse, ct) => RunAsync(parse, "import", async (config, stdout, stderr) =>
        {
            var dataDir = config.Kldload.DataDir;
            var root = parse.GetValue(installRoot) is { } r ? Path.GetFullPath(r) : null;
            if (root is not null && !parse.GetValue(installPackage))
            {
                await stderr.WriteLineAsync("kldload: kit import: --install-root needs --install-package").ConfigureAwait(false);
                return ExitCodes.BadSettings;
            }

            var trusted = TrustedKeys.Load(parse.GetValue(trustedKeys) is { } dir ? Path.GetFullPath(dir) : config.Images.TrustedKeysDir);
            foreach (var problem in trusted.Problems)
            {
                await stderr.WriteLineAsync($"kldload: warning: skipping trusted key {problem}").ConfigureAwait(false);
            }

            var staging = Path.Combine(dataDir, $".kit-staging-{Environment.ProcessId}-{Guid.NewGuid():N}");
            var applying = false;
            try
            {
                var kit = await KitReader.ReadAsync(parse.GetValue(file)!, trusted, staging, ct).ConfigureAwait(false);
                using var access = await ImageCommands.OpenAsync(config, Console.Error, ct).ConfigureAwait(false);
                var installed = KitInstalledRecord.Read(dataDir);
                if (installed is not null && kit.Index.Version.CompareTo(installed.Version) < 0 && !parse.GetValue(allowDowngrade))
                {
                    throw new KitException($"kit {kit.Index.Version} is older than the installed kit {installed.Version} ({KitInstalledRecord.PathIn(dataDir)}); give --allow-downgrade to import it anyway");
                }

                applying = true;
                var report = await ApplyAsync(config, kit, access.Store, trusted, new PackageInstall(parse.GetValue(installPackage), root), parse.GetValue(quiet), stderr, ct).ConfigureAwait(false);
                new KitInstalledRecord(kit.Index.Version, kit.KitId, kit.SignerId, DateTimeOffset.UtcNow).Write(dataDir);
                await PrintAsync(stdout, kit, installed, report, parse.GetValue(json)).ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            catch (Exception e) when (!applying && e is KitException or BundleException)
            {
                throw new KitException($"{e.Message.TrimEnd('.')}; nothing imported", e);
            }
            catch (Exception e) when (applying && e is not OperationCanceledException)
            {
                throw new KitException($"{e.Message.TrimEnd('.')}; the kit was partly applied (the installed kit record is unchanged): import it again once fixed", e);
            }
            finally
            {
                if (Directory.Exists(staging))
                {
                    Directory.Delete(staging, recursive: true);
                }
            }
        }));
        return c;
    }

    /// <summary>What one import did, for the summary.</summary>
    private sealed record ImportReport(JsonArray Images, JsonArray Loaders, JsonArray EkRoots, JsonObject? Package, List<string> Notes);

    /// <summary>Whether to run dpkg on the kit's package, and into which root (null: this system).</summary>
    private sealed record PackageInstall(bool Install, string? Root);

    /// <summary>Installs a verified kit: images (through the bundle import path) and channels, loaders, EK roots, the package.</summary>
    private static async Task<ImportReport> ApplyAsync(KldloadConfiguration config, VerifiedKit kit, LiveImageStore store, TrustedKeys trusted, PackageInstall installPackage, bool quiet, TextWriter stderr, CancellationToken ct)
    {
        var by = $"{Environment.UserName}@{Environment.MachineName} (cli kit import)";
        var report = new ImportReport([], [], [], null, []);
        foreach (var e in kit.Index.Entries.Where(e => e.Kind == KitEntryKind.ImageBundle))
        {
            var result = await ImageProgress.RunAsync(stderr, quiet, p => store.ImportBundleAsync(kit.Staged[e.Path], trusted, by, p, ct)).ConfigureAwait(false);
            var image = result.Images.FirstOrDefault(i => i.Key.ToString() == e.Image)
                ?? throw new KitException($"image bundle {e.Path} does not hold {e.Image}, as {KitFormat.IndexEntry} says");
            var moved = new JsonArray();
            foreach (var ch in e.Channels)
            {
                if (store.Catalog.GetChannel(ch)?.Current != image.Key)
                {
                    var change = store.Catalog.Promote(ch, image.Key, by);
                    moved.Add((JsonNode)new JsonObject { ["channel"] = ch, ["from"] = change.From?.ToString(), ["to"] = change.To.ToString() });
                }
            }

            report.Images.Add((JsonNode)new JsonObject
            {
                ["image"] = image.Key.ToString(),
                ["added"] = result.Added.Contains(image),
                ["channels"] = new JsonArray(e.Channels.Select(c => (JsonNode)JsonValue.Create(c)).ToArray()),
                ["moved"] = moved,
            });
        }

        foreach (var e in kit.Index.Entries.Where(e => e.Kind == KitEntryKind.Loader))
        {
            var target = e.Target switch
            {
                KitLoaderTargets.ShimX64 => config.Boot.Grub.ShimX64,
                KitLoaderTargets.GrubX64 => config.Boot.Grub.GrubX64,
                _ => Path.Combine(config.Tftp.Root, e.Name),
            };
            var changed = await InstallFileAsync(kit.Staged[e.Path], target, e.Sha256, ct).ConfigureAwait(false);
            report.Loaders.Add((JsonNode)new JsonObject { ["name"] = e.Name, ["target"] = e.Target, ["path"] = target, ["changed"] = changed });
        }

        var ekRoots = kit.Index.Entries.Where(e => e.Kind == KitEntryKind.EkRoot).ToList();
        if (ekRoots.Count > 0)
        {
            var dir = config.Attestation.EkRootsDir ?? Path.Combine(config.Kldload.DataDir, "ek-roots");
            if (config.Attestation.EkRootsDir is null)
            {
                report.Notes.Add($"Attestation:EkRootsDir is not set: EK roots written to {dir}; set Attestation:EkRootsDir={dir} for attestation to use them");
            }

            foreach (var e in ekRoots)
            {
                var target = Path.Combine(dir, e.Name);
                var changed = await InstallFileAsync(kit.Staged[e.Path], target, e.Sha256, ct).ConfigureAwait(false);
                report.EkRoots.Add((JsonNode)new JsonObject { ["name"] = e.Name, ["path"] = target, ["changed"] = changed });
            }
        }

        if (kit.Index.Entries.FirstOrDefault(e => e.Kind == KitEntryKind.Package) is { } pkg)
        {
            var target = Path.Combine(config.Kldload.DataDir, "packages", pkg.Name);
            await InstallFileAsync(kit.Staged[pkg.Path], target, pkg.Sha256, ct).ConfigureAwait(false);
            var installedWithDpkg = false;
            if (installPackage.Install)
            {
                await RunDpkgAsync(target, installPackage.Root, ct).ConfigureAwait(false);
                installedWithDpkg = true;
            }
            else
            {
                report.Notes.Add($"package copied to {target}; install it with: sudo dpkg -i {target} (or import with --install-package)");
            }

            report = report with { Package = new JsonObject { ["name"] = pkg.Name, ["path"] = target, ["installed"] = installedWithDpkg, ["installRoot"] = installPackage.Root } };
        }

        return report;
    }

    /// <summary>Copies a verified staged file to <paramref name="target"/> atomically; false when the target already had this content.</summary>
    private static async Task<bool> InstallFileAsync(string staged, string target, string sha256, CancellationToken ct)
    {
        if (File.Exists(target) && (await KitWriter.HashAsync(target, ct).ConfigureAwait(false)).Digest == sha256)
        {
            return false;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temp = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.partial-{Environment.ProcessId}");
        try
        {
            File.Copy(staged, temp, overwrite: true);
            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }

        return true;
    }

    private static async Task RunDpkgAsync(string package, string? root, CancellationToken ct)
    {
        var start = new ProcessStartInfo("dpkg") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        var command = root is null ? "dpkg -i" : $"dpkg --root={root} -i";
        if (root is not null)
        {
            start.ArgumentList.Add("--root=" + root);
        }

        start.ArgumentList.Add("-i");
        start.ArgumentList.Add(package);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new KitException("dpkg did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new KitException($"{command} {package}: {e.Message} (is this a Debian system?)", e);
        }

        using (process)
        {
            var stdoutTask = process.StandardOutput.ReadToEndAsync(ct);
            var stderrTask = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            await stdoutTask.ConfigureAwait(false);
            var err = await stderrTask.ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                var last = err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no output";
                throw new KitException($"{command} {package} exited with {process.ExitCode}: {last}");
            }
        }
    }

    private static async Task PrintAsync(TextWriter stdout, VerifiedKit kit, KitInstalledRecord? previous, ImportReport report, bool json)
    {
        if (json)
        {
            var doc = new JsonObject
            {
                ["kit"] = new JsonObject
                {
                    ["kldloadVersion"] = kit.Index.Version.KldloadVersion,
                    ["created"] = kit.Index.Version.Created.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                    ["kitId"] = kit.KitId,
                    ["signer"] = kit.SignerId,
                },
                ["previous"] = previous?.Version.ToString(),
                ["images"] = report.Images,
                ["loaders"] = report.Loaders,
                ["ekRoots"] = report.EkRoots,
                ["package"] = report.Package,
                ["notes"] = new JsonArray(report.Notes.Select(n => (JsonNode)JsonValue.Create(n)).ToArray()),
            };
            await stdout.WriteLineAsync(doc.ToJsonString(KitFormat.Indented)).ConfigureAwait(false);
            return;
        }

        await stdout.WriteLineAsync($"imported kit {kit.Index.Version} signed by {kit.SignerId}{(previous is null ? string.Empty : $" (previous kit {previous.Version})")}").ConfigureAwait(false);
        foreach (var i in report.Images.OfType<JsonObject>())
        {
            var moved = i["moved"]!.AsArray().OfType<JsonObject>().Select(m => $"{m["channel"]}: {m["from"]?.ToString() ?? "(new)"} -> {m["to"]}").ToList();
            await stdout.WriteLineAsync($"  image {i["image"]}{((bool)i["added"]! ? string.Empty : " (already present)")}{(moved.Count > 0 ? "; " + string.Join(", ", moved) : string.Empty)}").ConfigureAwait(false);
        }

        foreach (var l in report.Loaders.OfType<JsonObject>().Concat(report.EkRoots.OfType<JsonObject>()))
        {
            await stdout.WriteLineAsync($"  {(l.ContainsKey("target") ? "loader" : "EK root")} {l["name"]} -> {l["path"]}{((bool)l["changed"]! ? string.Empty : " (unchanged)")}").ConfigureAwait(false);
        }

        if (report.Package is { } p)
        {
            var installedWhere = p["installRoot"] is { } into ? $" (installed with dpkg -i into {into})" : " (installed with dpkg -i)";
            await stdout.WriteLineAsync($"  package {p["name"]} -> {p["path"]}{((bool)p["installed"]! ? installedWhere : string.Empty)}").ConfigureAwait(false);
        }

        foreach (var n in report.Notes)
        {
            await stdout.WriteLineAsync($"note: {n}").ConfigureAwait(false);
        }
    }

    private static string Describe(KitEntry e) => e.Kind switch
    {
        KitEntryKind.ImageBundle => $"{e.Image} (channels {string.Join(", ", e.Channels)})",
        KitEntryKind.Loader => $"{e.Name} ({e.Target})",
        _ => e.Name,
    };

    /// <summary>Loads settings, runs a subcommand and maps failures to one line and an exit code.</summary>
    private static async Task<int> RunAsync(ParseResult parse, string verb, Func<KldloadConfiguration, TextWriter, TextWriter, Task<int>> body)
    {
        var stdout = parse.InvocationConfiguration.Output;
        var stderr = parse.InvocationConfiguration.Error;
        var config = KldloadCli.LoadOrReport(SettingOverrides.From(parse.UnmatchedTokens), stderr);
        if (config is null)
        {
            return ExitCodes.BadSettings;
        }

        try
        {
            return await body(config, stdout, stderr).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KitException or BundleException or ImageImportException or ImageCatalogException or IOException or UnauthorizedAccessException or LiteDB.LiteException or Npgsql.NpgsqlException or StorageSchemaException or AdminApiException)
        {
            await stderr.WriteLineAsync($"kldload: kit {verb}: {e.Message.ReplaceLineEndings(" ").Trim()}").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
        catch (OperationCanceledException)
        {
            await stderr.WriteLineAsync($"kldload: kit {verb}: cancelled").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
    }
}
