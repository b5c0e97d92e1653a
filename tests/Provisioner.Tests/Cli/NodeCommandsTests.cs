using System.Text.Json;
using Kldload.Provisioner.Cli;

namespace Kldload.Provisioner.Tests.Cli;

/// <summary>`kldload nodes ...` as an operator types it, against a running `kldload serve`.</summary>
[Trait("Tier", "Integration")]
public sealed class NodeCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Nodes_ListShowEventsApproveReimage_AgainstRunningServer()
    {
        var dataDir = Path.Combine(_dir, "var");
        await using var server = KldloadProcess.Start(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={dataDir}", "--Tftp:Enabled=false");
        var url = await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        using (var http = new HttpClient { BaseAddress = url })
        {
            await http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:40:00:01&platform=efi&serial=SN-CLI", UriKind.Relative));
        }

        string[] common = ["--server", url.ToString(), $"--Kldload:DataDir={dataDir}"];

        var (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, ["nodes", "list", "--json", .. common]);
        Assert.True(code == 0, stderr);
        var node = Assert.Single(JsonDocument.Parse(stdout).RootElement.EnumerateArray());
        Assert.Equal("Discovered", node.GetProperty("state").GetString());
        var id = node.GetProperty("id").GetString()!;

        (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, ["nodes", "list", .. common]);
        Assert.True(code == 0, stderr);
        Assert.Contains("node-400001", stdout, StringComparison.Ordinal);
        // No agent has reported a WireGuard handshake yet: the column is there and the node's cell says "-".
        var header = stdout.Split('\n').First(l => l.Contains("HANDSHAKE", StringComparison.Ordinal));
        var row = stdout.Split('\n').First(l => l.Contains("node-400001", StringComparison.Ordinal));
        var cell = header.IndexOf("HANDSHAKE", StringComparison.Ordinal);
        Assert.Equal("-", row[cell..].Split('│', StringSplitOptions.TrimEntries)[0]);

        (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, ["nodes", "list", "--columns", "cpu,memory,disks,gpus", .. common]);
        Assert.True(code == 0, stderr);
        Assert.Contains("MEMORY", stdout, StringComparison.Ordinal); // no facts yet: the columns say "-"
        Assert.Contains("GPUS", stdout, StringComparison.Ordinal);

        (code, _, stderr) = await KldloadProcess.RunAsync(_dir, ["nodes", "list", "--columns", "cpu,ram", .. common]);
        Assert.Equal(2, code);
        Assert.Contains("unknown column 'ram'", stderr, StringComparison.Ordinal);

        (code, stdout, _) = await KldloadProcess.RunAsync(_dir, ["nodes", "show", "52:54:00:40:00:01", "--json", .. common]);
        Assert.Equal(0, code);
        Assert.Equal("SN-CLI", JsonDocument.Parse(stdout).RootElement.GetProperty("serial").GetString());

        (code, stdout, _) = await KldloadProcess.RunAsync(_dir, ["nodes", "show", "52:54:00:40:00:01", .. common]);
        Assert.Equal(0, code);
        Assert.Matches(@"LastHandshake\s+-", stdout);

        (code, stdout, _) = await KldloadProcess.RunAsync(_dir, ["nodes", "events", id, "--json", .. common]);
        Assert.Equal(0, code);
        Assert.Contains(JsonDocument.Parse(stdout).RootElement.EnumerateArray(), e => e.GetProperty("kind").GetString() == "Script");

        (code, _, stderr) = await KldloadProcess.RunAsync(_dir, ["nodes", "approve", id, .. common]);
        Assert.Equal(1, code);
        Assert.Contains("409", stderr, StringComparison.Ordinal);
        Assert.Contains("only Enrolling or Quarantined", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await KldloadProcess.RunAsync(_dir, ["nodes", "show", "no-such-node", .. common]);
        Assert.Equal(1, code);
        Assert.Contains("404", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "-")]
    [InlineData(12, "12s ago")]
    [InlineData(-3, "0s ago")]
    [InlineData(5 * 60 + 59, "5m ago")]
    [InlineData(3 * 3600, "3h ago")]
    [InlineData(47 * 3600, "47h ago")]
    [InlineData(2 * 86400 + 5, "2d ago")]
    public void Ago_SecondsBeforeNow_Coarse(int? secondsAgo, string expected)
    {
        var now = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
        Assert.Equal(expected, NodeCommands.Ago(secondsAgo is { } s ? now.AddSeconds(-s) : null, now));
    }

    [Fact]
    public async Task Nodes_ServerDown_SaysWhatToDo()
    {
        var dataDir = Path.Combine(_dir, "var");
        Directory.CreateDirectory(dataDir);
        File.WriteAllText(Path.Combine(dataDir, "admin.token"), "0123456789abcdef0123456789abcdef\n");
        var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, "nodes", "list", "--server", "http://127.0.0.1:9", $"--Kldload:DataDir={dataDir}");
        Assert.Equal(1, code);
        Assert.Contains("cannot reach kldload", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nodes_NoTokenFile_ExitsOneNamingTheFile()
    {
        var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, "nodes", "list", $"--Kldload:DataDir={Path.Combine(_dir, "empty")}");
        Assert.Equal(1, code);
        Assert.Contains("admin.token", stderr, StringComparison.Ordinal);
    }
}
