using System.Text.Json;
using System.Text.RegularExpressions;

namespace Kldload.Provisioner.Tests.Hosting;

/// <summary>
/// The CLI's trust on first use of the admin listener's certificate, with the real <c>kldload</c>
/// binary on both sides: <c>kldload serve</c> with <c>Admin:Urls</c>, and admin commands run as an
/// operator elsewhere would (another data directory, the token in a file, <c>--server https://...</c>).
/// </summary>
[Trait("Tier", "Integration")]
public sealed partial class AdminPinningTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("klpin-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string DataDir => Path.Combine(_dir, "var");

    private string KnownServers => Path.Combine(_dir, "home", "known_servers");

    private async Task<(KldloadProcess Server, Uri Boot, Uri Admin, string Fingerprint)> ServeAsync()
    {
        var server = KldloadProcess.Start(_dir, "serve", "--urls", "http://127.0.0.1:0", "--Admin:Urls=https://127.0.0.1:0", $"--Kldload:DataDir={DataDir}", "--Tftp:Enabled=false");
        try
        {
            var boot = await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
            // The admin line is logged right after the start-up line.
            for (var i = 0; i < 200 && !AdminLine().IsMatch(server.Stdout); i++)
            {
                await Task.Delay(50);
            }

            var match = AdminLine().Match(server.Stdout);
            Assert.True(match.Success, server.Stdout);
            Assert.DoesNotContain(match.Groups[1].Value, server.Stdout[..server.Stdout.IndexOf(" admin API", StringComparison.Ordinal)], StringComparison.Ordinal);
            return (server, boot, new Uri(match.Groups[1].Value), match.Groups[2].Value);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>An admin command as an operator on another machine runs it.</summary>
    private Task<(int ExitCode, string Stdout, string Stderr)> Remote(Uri server, params string[] args) =>
        KldloadProcess.RunAsync(_dir, [.. args, "--server", server.ToString(), $"--Kldload:DataDir={Path.Combine(_dir, "elsewhere")}",
            $"--Auth:AdminTokenFile={Path.Combine(DataDir, "admin.token")}", $"--Admin:KnownServersFile={KnownServers}"]);

    [Fact]
    public async Task Cli_FirstUsePins_SecondUsePasses_ChangedCertificateIsRefused()
    {
        var (server, boot, admin, fingerprint) = await ServeAsync();
        await using var running = server;
        Assert.Matches("^[0-9A-F]{64}$", fingerprint);
        var key = $"127.0.0.1:{admin.Port}";

        var (code, stdout, stderr) = await Remote(admin, "nodes", "list", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(stdout).RootElement.ValueKind);
        Assert.Contains($"pinned the certificate of {key} (SHA-256 {fingerprint}) in {KnownServers}", stderr, StringComparison.Ordinal);
        Assert.Equal($"{key} {fingerprint}\n", await File.ReadAllTextAsync(KnownServers));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KnownServers));

        // Second use: the pin matches, nothing is said, nothing is added; any admin command.
        (code, _, stderr) = await Remote(admin, "tokens", "list", "--json");
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("pinned", stderr, StringComparison.Ordinal);
        Assert.Equal($"{key} {fingerprint}\n", await File.ReadAllTextAsync(KnownServers));

        (code, stdout, stderr) = await Remote(admin, "events", "--limit", "5", "--json");
        Assert.True(code == 0, stderr);
        Assert.All(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(line).RootElement.ValueKind));

        // The backup command streams through a client of its own: the same pin applies.
        var pass = Path.Combine(_dir, "pass");
        await File.WriteAllTextAsync(pass, "a long passphrase\n");
        var archive = Path.Combine(_dir, "site.age");
        (code, _, stderr) = await Remote(admin, "backup", "-o", archive, "--passphrase-file", pass, "-q");
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("pinned", stderr, StringComparison.Ordinal);
        (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, "backup", "verify", archive, "--passphrase-file", pass, $"--Kldload:DataDir={Path.Combine(_dir, "elsewhere")}");
        Assert.True(code == 0, stderr);
        Assert.Contains("intact", stdout, StringComparison.Ordinal);

        // A server at that address now presenting another certificate: refused, naming the file and both fingerprints.
        var other = new string('0', 64);
        await File.WriteAllTextAsync(KnownServers, $"{key} {other}\n");
        (code, stdout, stderr) = await Remote(admin, "nodes", "list");
        Assert.Equal(1, code);
        Assert.Empty(stdout);
        Assert.Contains($"the certificate of {key} is not the one pinned in {KnownServers}: pinned SHA-256 {other}, presented SHA-256 {fingerprint}", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await Remote(admin, "backup", "-o", Path.Combine(_dir, "refused.age"), "--passphrase-file", pass, "-q");
        Assert.Equal(1, code);
        Assert.Contains($"pinned SHA-256 {other}, presented SHA-256 {fingerprint}", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "refused.age")));
        Assert.Equal($"{key} {other}\n", await File.ReadAllTextAsync(KnownServers));

        // The boot LAN listener does not carry the admin API.
        (code, _, stderr) = await Remote(boot, "nodes", "list");
        Assert.Equal(1, code);
        Assert.Contains("404", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cli_OnTheServersDataDirectory_FindsTheAdminListenerAndTrustsItsCertificateFile()
    {
        var (server, _, _, _) = await ServeAsync();
        await using var running = server;

        // No --server: the URL the server published in its data directory, which is the admin listener's.
        var (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, "nodes", "list", "--json", $"--Kldload:DataDir={DataDir}", $"--Admin:KnownServersFile={KnownServers}");
        Assert.True(code == 0, stderr);
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(stdout).RootElement.ValueKind);
        Assert.DoesNotContain("pinned", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(KnownServers));

        // Image commands reach the running server's catalog through the same listener.
        (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, "image", "list", "--json", $"--Kldload:DataDir={DataDir}", $"--Admin:KnownServersFile={KnownServers}");
        Assert.True(code == 0, stderr);
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(stdout).RootElement.GetProperty("images").ValueKind);
    }

    [GeneratedRegex(@"admin API, dashboard and /metrics on (https://[^\s,]+) only \(TLS; certificate SHA-256 ([0-9A-F]{64})")]
    private static partial Regex AdminLine();
}
