using System.Text.Json;

namespace Kldload.Provisioner.Tests.Cli;

/// <summary>Every read command's <c>--json</c> is JSON a script can parse, against a running `kldload serve`.</summary>
[Trait("Tier", "Integration")]
public sealed class JsonOutputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-json-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task ReadCommands_Json_ParseAsJson()
    {
        var dataDir = Path.Combine(_dir, "var");
        await using var server = KldloadProcess.Start(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={dataDir}", "--Tftp:Enabled=false");
        var url = await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        using (var http = new HttpClient { BaseAddress = url })
        {
            await http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:4a:00:01&platform=efi", UriKind.Relative));
        }

        string[] common = ["--server", url.ToString(), $"--Kldload:DataDir={dataDir}"];
        var profile = Path.Combine(_dir, "p.json");
        await File.WriteAllTextAsync(profile, """{ "match": { "macs": ["52:54:00:4a:00:01"] }, "channel": "stable" }""");
        Assert.Equal(0, (await KldloadProcess.RunAsync(_dir, ["profiles", "set", "p1", "-f", profile, .. common])).ExitCode);
        var pass = Path.Combine(_dir, "pass");
        await File.WriteAllTextAsync(pass, "correct horse battery staple\n");
        var archive = Path.Combine(_dir, "b.age");
        var backup = await KldloadProcess.RunAsync(_dir, ["backup", "-o", archive, "--passphrase-file", pass, "-q", .. common]);
        Assert.True(backup.ExitCode == 0, backup.Stderr);

        string[][] documents =
        [
            ["version"],
            ["nodes", "list", .. common],
            ["nodes", "show", "52:54:00:4a:00:01", .. common],
            ["nodes", "events", "52:54:00:4a:00:01", .. common],
            ["profiles", "list", .. common],
            ["profiles", "show", "p1", .. common],
            ["tokens", "list", .. common],
            ["image", "list", $"--Kldload:DataDir={dataDir}"],
            ["image", "verify", $"--Kldload:DataDir={dataDir}"],
            ["image", "rollout", "list", .. common],
            ["backup", "verify", archive, "--passphrase-file", pass, "-q"],
        ];
        foreach (var args in documents)
        {
            var (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, [.. args, "--json"]);
            Assert.True(code == 0, $"{string.Join(' ', args)}: {stderr}");
            using var _ = JsonDocument.Parse(stdout); // one document, indented
        }

        // The event log is a stream: one object per line.
        var events = await KldloadProcess.RunAsync(_dir, ["events", "--json", .. common]);
        Assert.True(events.ExitCode == 0, events.Stderr);
        Assert.All(events.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(l).RootElement.ValueKind));
    }
}
