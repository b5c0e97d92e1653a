using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Kldload.Provisioner.Tests.Cli;

/// <summary><c>kldload tokens create|list|revoke</c> against a real <c>kldload serve</c>.</summary>
[Trait("Tier", "Integration")]
public sealed class TokenCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kltok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string DataDir => Path.Combine(_dir, "var");

    [Fact]
    public async Task Tokens_CreateListRevoke_RoundTripThroughTheApi()
    {
        await using var server = KldloadProcess.Start(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={DataDir}", "--Tftp:Enabled=false");
        var url = await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));

        var (code, stdout, stderr) = await Cli("tokens", "create", "alice", "--role", "operator");
        Assert.True(code == 0, stderr);
        var token = stdout.TrimEnd().Split('\n')[^1];
        Assert.Matches("^kldt_[A-Za-z0-9_-]{43}$", token);

        // The token works with its role, and not beyond it.
        using var http = new HttpClient { BaseAddress = url };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(new Uri("/api/v1/tokens", UriKind.Relative))).StatusCode);

        // An operator uses the CLI with the token in a file of their own; tokens commands need admin.
        var mine = Path.Combine(_dir, "alice.token");
        await File.WriteAllTextAsync(mine, token + "\n");
        (code, stdout, stderr) = await Cli("nodes", "list", "--json", $"--Auth:AdminTokenFile={mine}");
        Assert.True(code == 0, stderr);
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(stdout).RootElement.ValueKind);
        (code, _, stderr) = await Cli("tokens", "list", $"--Auth:AdminTokenFile={mine}");
        Assert.Equal(1, code);
        Assert.Contains("403", stderr, StringComparison.Ordinal);
        Assert.Contains("needs admin", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await Cli("tokens", "create", "alice", "--role", "viewer");
        Assert.Equal(1, code);
        Assert.Contains("409", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await Cli("tokens", "create", "bob", "--role", "root");
        Assert.Equal(2, code);
        Assert.Contains("root", stderr, StringComparison.Ordinal);

        (code, stdout, stderr) = await Cli("tokens", "list", "--json");
        Assert.True(code == 0, stderr);
        var alice = Assert.Single(JsonDocument.Parse(stdout).RootElement.EnumerateArray());
        Assert.Equal("alice", alice.GetProperty("name").GetString());
        Assert.Equal("operator", alice.GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.String, alice.GetProperty("created").ValueKind);
        Assert.Equal(JsonValueKind.String, alice.GetProperty("lastUsed").ValueKind);
        Assert.Equal(JsonValueKind.Null, alice.GetProperty("revoked").ValueKind);
        Assert.DoesNotContain(token, stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = await Cli("tokens", "list");
        Assert.True(code == 0, stderr);
        Assert.Contains("alice", stdout, StringComparison.Ordinal);
        Assert.Contains("operator", stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = await Cli("tokens", "revoke", "alice");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("token alice revoked at ", stdout, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative))).StatusCode);

        (code, stdout, stderr) = await Cli("tokens", "list", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(JsonValueKind.String, Assert.Single(JsonDocument.Parse(stdout).RootElement.EnumerateArray()).GetProperty("revoked").ValueKind);

        (code, _, stderr) = await Cli("tokens", "revoke", "nobody");
        Assert.Equal(1, code);
        Assert.Contains("404", stderr, StringComparison.Ordinal);
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> Cli(params string[] args) =>
        KldloadProcess.RunAsync(_dir, [.. args, $"--Kldload:DataDir={DataDir}"]);
}
