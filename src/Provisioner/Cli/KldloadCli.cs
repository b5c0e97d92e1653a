using System.CommandLine;
using System.Text.Json;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// The <c>kldload</c> command line. Every subcommand accepts <c>--Section:Key=value</c> settings
/// overrides after its own options; they are handed to .NET configuration as the last source.
/// </summary>
public static class KldloadCli
{
    /// <summary>
    /// Parses and runs a command line; returns the process exit code. <paramref name="serve"/> runs the
    /// web host for <c>kldload serve</c>: the composition root (<c>Hosting/</c>) passes it in, because the
    /// command line sits below it and does not name it.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, ServeHost serve, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = BuildRootCommand(serve);
        var parse = root.Parse(args);

        var usageErrors = parse.Errors.Select(e => e.Message).ToList();
        usageErrors.AddRange(SettingOverrides.FindInvalid(parse.UnmatchedTokens));
        if (usageErrors.Count > 0 && !IsHelpRequested(args))
        {
            foreach (var e in usageErrors)
            {
                await stderr.WriteLineAsync($"kldload: {e}").ConfigureAwait(false);
            }

            await stderr.WriteLineAsync("Try 'kldload --help'.").ConfigureAwait(false);
            return ExitCodes.BadSettings;
        }

        // The web host handles SIGTERM/SIGINT itself: System.CommandLine must not race it.
        var invocation = new InvocationConfiguration { ProcessTerminationTimeout = null, Output = stdout, Error = stderr };
        return await parse.InvokeAsync(invocation).ConfigureAwait(false);
    }

    private static bool IsHelpRequested(string[] args) => args.Any(a => a is "--help" or "-h" or "-?");

    internal static RootCommand BuildRootCommand(ServeHost serve)
    {
        var root = new RootCommand("kldload: attested, mesh-native netboot provisioning (DHCP, TFTP, HTTP, TPM, WireGuard).");
        root.Subcommands.Add(ServeCommand(serve));
        root.Subcommands.Add(VersionCommand());
        root.Subcommands.Add(SetupCommand.Create());
        root.Subcommands.Add(DoctorCommand.Create());
        root.Subcommands.Add(ImageCommands.Create());
        root.Subcommands.Add(NodeCommands.Create());
        root.Subcommands.Add(ProfileCommands.CreateProfiles());
        root.Subcommands.Add(ProfileCommands.CreateEvents());
        root.Subcommands.Add(LeaseCommands.Create());
        root.Subcommands.Add(TokenCommands.Create());
        root.Subcommands.Add(InstanceCommands.Create());
        root.Subcommands.Add(BackupCommands.CreateBackup());
        root.Subcommands.Add(BackupCommands.CreateRestore());
        root.Subcommands.Add(DbCommands.Create());
        root.Subcommands.Add(KitCommands.Create());
        root.Subcommands.Add(CompletionCommand.Create(root));
        foreach (var c in root.Subcommands)
        {
            AcceptSettingOverrides(c);
        }

        return root;
    }

    /// <summary>Lets a command (and its subcommands) take <c>--Section:Key=value</c> tokens.</summary>
    internal static void AcceptSettingOverrides(Command command)
    {
        command.TreatUnmatchedTokensAsErrors = false;
        foreach (var sub in command.Subcommands)
        {
            AcceptSettingOverrides(sub);
        }
    }

    private static Command ServeCommand(ServeHost host)
    {
        var urls = new Option<string?>("--urls")
        {
            Description = "HTTP listen URLs separated by ';' (default http://0.0.0.0:8080; also ASPNETCORE_URLS).",
            HelpName = "URLS",
        };
        var serve = new Command("serve", "Run the provisioner: HTTP (iPXE, images, attestation, admin API), TFTP and DHCP. Settings: --Section:Key=value.");
        serve.Options.Add(urls);
        serve.SetAction(async (parse, ct) =>
        {
            var overrides = SettingOverrides.From(parse.UnmatchedTokens).ToList();
            if (parse.GetValue(urls) is { } u)
            {
                overrides.Add($"--urls={u}");
            }

            var config = LoadOrReport(overrides, parse.InvocationConfiguration.Error);
            return config is null ? ExitCodes.BadSettings : await host(config, ct).ConfigureAwait(false);
        });
        return serve;
    }

    private static Command VersionCommand()
    {
        var json = new Option<bool>("--json") { Description = "Print JSON: version and commit." };
        var version = new Command("version", "Print the version and the git commit kldload was built from.") { json };
        version.SetAction(parse =>
        {
            parse.InvocationConfiguration.Output.WriteLine(parse.GetValue(json)
                ? JsonSerializer.Serialize(new { version = BuildInfo.Version, commit = BuildInfo.Commit }, AdminClient.Json)
                : $"kldload {BuildInfo.Version} (commit {BuildInfo.Commit})");
            return ExitCodes.Ok;
        });
        return version;
    }

    /// <summary>Loads and validates settings; prints every problem and returns null when any is found.</summary>
    internal static KldloadConfiguration? LoadOrReport(IEnumerable<string> overrides, TextWriter stderr, bool requireWritableDataDir = true)
    {
        var root = KldloadConfiguration.BuildRoot(overrides);
        var config = KldloadConfiguration.Load(root, out var errors, requireWritableDataDir);
        if (errors.Count == 0)
        {
            return config;
        }

        stderr.WriteLine($"kldload: {errors.Count} invalid setting{(errors.Count == 1 ? string.Empty : "s")}:");
        foreach (var e in errors)
        {
            stderr.WriteLine($"  {e}");
        }

        return null;
    }
}

/// <summary>Runs <c>kldload serve</c> with validated settings until SIGTERM/SIGINT; returns the process exit code.</summary>
public delegate Task<int> ServeHost(KldloadConfiguration config, CancellationToken cancellationToken);

/// <summary>The <c>--Section:Key=value</c> (or <c>--Section:Key value</c>) tokens of a command line.</summary>
internal static class SettingOverrides
{
    public static IEnumerable<string> From(IReadOnlyList<string> unmatched) => unmatched;

    /// <summary>Every token that is neither a setting override nor the value following one.</summary>
    public static IEnumerable<string> FindInvalid(IReadOnlyList<string> unmatched)
    {
        for (var i = 0; i < unmatched.Count; i++)
        {
            var token = unmatched[i];
            if (IsSettingKey(token))
            {
                if (!token.Contains('=', StringComparison.Ordinal) && i + 1 < unmatched.Count && !unmatched[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    i++; // --Section:Key value
                }
                else if (!token.Contains('=', StringComparison.Ordinal))
                {
                    yield return $"setting {token} has no value (use {token}=VALUE)";
                }

                continue;
            }

            yield return $"unrecognised argument '{token}' (settings are written --Section:Key=value)";
        }
    }

    private static bool IsSettingKey(string token)
    {
        if (!token.StartsWith("--", StringComparison.Ordinal))
        {
            return false;
        }

        var key = token[2..].Split('=')[0];
        return key.Contains(':', StringComparison.Ordinal) && key.Split(':').All(p => p.Length > 0 && p.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'));
    }
}
