using System.Text.Json;

namespace Kldload.Provisioner.Tests.Cli;

[Trait("Tier", "Integration")]
public sealed class ProfileCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("klprof-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Profiles_SetListShowDelete_RoundTripThroughTheApi()
    {
        await using var server = KldloadProcess.Start(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={Path.Combine(_dir, "var")}", "--Tftp:Enabled=false");
        await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        var file = Path.Combine(_dir, "rack1.json");
        await File.WriteAllTextAsync(file, """{ "priority": 10, "match": { "macs": ["52:54:00:aa:00:01"], "labels": { "rack": "r1" } }, "channel": "stable" }""");

        var (code, stdout, stderr) = await Cli("profiles", "set", "rack1", "-f", file);
        Assert.True(code == 0, stderr);
        Assert.Contains("profile rack1 saved: matches mac 52:54:00:aa:00:01; label rack=r1", stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = await Cli("profiles", "list", "--json");
        Assert.True(code == 0, stderr);
        var listed = Assert.Single(JsonDocument.Parse(stdout).RootElement.EnumerateArray());
        Assert.Equal("rack1", listed.GetProperty("name").GetString());
        Assert.Equal("stable", listed.GetProperty("channel").GetString());

        // show prints exactly what set takes: a second set from it changes nothing.
        (code, stdout, stderr) = await Cli("profiles", "show", "rack1");
        Assert.True(code == 0, stderr);
        await File.WriteAllTextAsync(file, stdout);
        (code, _, stderr) = await Cli("profiles", "set", "rack1", "-f", file);
        Assert.True(code == 0, stderr);
        (code, var again, _) = await Cli("profiles", "show", "rack1");
        Assert.Equal(0, code);
        Assert.Equal(stdout, again);

        // A profile the server refuses: its reason, exit 1.
        await File.WriteAllTextAsync(file, """{ "match": { } }""");
        (code, _, stderr) = await Cli("profiles", "set", "empty", "-f", file);
        Assert.Equal(1, code);
        Assert.Contains("a profile must match on at least one of", stderr, StringComparison.Ordinal);

        (code, stdout, stderr) = await Cli("profiles", "delete", "rack1");
        Assert.True(code == 0, stderr);
        (code, _, stderr) = await Cli("profiles", "show", "rack1");
        Assert.Equal(1, code);
        Assert.Contains("404", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_HistoryThenFollow_PrintsEveryEventOnce()
    {
        var data = Path.Combine(_dir, "var");
        await using var server = KldloadProcess.Start(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={data}", "--Tftp:Enabled=false");
        var url = await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = url };
        await http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:ee:00:01&platform=efi", UriKind.Relative));

        var (code, stdout, stderr) = await Cli("events", "--json");
        Assert.True(code == 0, stderr);
        var first = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.NotEmpty(first);
        var firstNode = first[0].GetProperty("nodeId").GetString();

        await using var follow = KldloadProcess.Start(_dir, "events", "--follow", "--json", $"--Kldload:DataDir={data}");
        // The history comes first; then a boot of a second node appears while the command runs.
        await WaitForAsync(() => follow.Stdout.Contains(firstNode!, StringComparison.Ordinal), follow);
        await http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:ee:00:02&platform=efi", UriKind.Relative));
        await WaitForAsync(() => follow.Stdout.Split('\n').Any(l => l.Length > 0 && JsonDocument.Parse(l).RootElement.GetProperty("nodeId").GetString() != firstNode), follow);

        var ids = follow.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetInt64()).ToList();
        Assert.Equal(ids.Distinct().Count(), ids.Count);
        Assert.Equal(ids.Order().ToList(), ids);
    }

    private static async Task WaitForAsync(Func<bool> condition, KldloadProcess process)
    {
        for (var i = 0; i < 600 && !condition(); i++)
        {
            Assert.False(process.HasExited, $"the command exited: {process.Stdout}\n{process.Stderr}");
            await Task.Delay(100);
        }

        Assert.True(condition(), process.Stdout + "\n" + process.Stderr);
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> Cli(params string[] args) =>
        KldloadProcess.RunAsync(_dir, [.. args, $"--Kldload:DataDir={Path.Combine(_dir, "var")}"]);
}
