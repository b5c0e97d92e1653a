using System.Net;
using System.Net.Sockets;
using LiteDB;

namespace Kldload.Provisioner.Tests.Hosting;

/// <summary>The real binary, real sockets on 127.0.0.1, a real LiteDB file.</summary>
[Trait("Tier", "Integration")]
public sealed class HostProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-host-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string[] ServeArgs(params string[] extra) =>
        ["serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={Path.Combine(_dir, "var")}", "--Tftp:Enabled=false", .. extra];

    [Fact]
    public async Task Serve_Defaults_AnswersHealthReadyAndMetrics()
    {
        await using var p = KldloadProcess.Start(_dir, ServeArgs());
        var url = await p.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = url };

        Assert.Equal("ok\n", await http.GetStringAsync(new Uri("/healthz", UriKind.Relative)));
        Assert.Equal("ready\n", await http.GetStringAsync(new Uri("/readyz", UriKind.Relative)));
        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("# TYPE http_request_duration_seconds histogram", metrics, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_dir, "var", "kldload.db")));
    }

    [Fact]
    public async Task Serve_SigTerm_ExitsZeroWithinFiveSecondsAndDatabaseOpensCleanly()
    {
        var dataDir = Path.Combine(_dir, "var");
        await using (var p = KldloadProcess.Start(_dir, ServeArgs()))
        {
            var url = await p.WaitForListeningAsync(TimeSpan.FromSeconds(60));
            using var http = new HttpClient { BaseAddress = url };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);

            p.Signal("TERM");
            Assert.True(await p.WaitForExitAsync(TimeSpan.FromSeconds(5)), "kldload did not exit within 5 s of SIGTERM");
            Assert.Equal(0, p.ExitCode);
            Assert.Contains("stopped cleanly", p.Stdout, StringComparison.Ordinal);
        }

        using var db = new LiteDatabase(new ConnectionString { Filename = Path.Combine(dataDir, "kldload.db"), Connection = ConnectionType.Direct });
        db.GetCollection("probe").Insert(new BsonDocument { ["ok"] = true });
        Assert.Equal(1, db.GetCollection("probe").Count());
    }

    [Fact]
    public async Task Serve_UnwritableDataDir_ExitsTwoWithOneLineNamingTheKey()
    {
        var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, "serve", "--Kldload:DataDir=/proc/kldload");
        Assert.Equal(2, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("  ", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(lines);
        Assert.StartsWith("  Kldload:DataDir = '/proc/kldload'", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_MisspeltEnum_ExitsTwoNamingKeyAndAllowedValues()
    {
        var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, ServeArgs("--Dhcp:Mode=Ful"));
        Assert.Equal(2, code);
        Assert.Contains("Dhcp:Mode = 'Ful': allowed: Off, Full, Proxy", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_EnvironmentVariableSetting_IsValidated()
    {
        // Set for the child only: tests in this process build configurations from the environment too.
        var environment = new Dictionary<string, string> { ["KLDLOAD_Attestation__EnrollmentPolicy"] = "Sometimes" };
        var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, environment, ServeArgs());
        Assert.Equal(2, code);
        Assert.Contains("Attestation:EnrollmentPolicy = 'Sometimes'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_PortInUse_ExitsTwoNamingUrls()
    {
        using var blocker = new TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        var port = ((IPEndPoint)blocker.LocalEndpoint).Port;

        var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, "serve", "--urls", $"http://127.0.0.1:{port}", $"--Kldload:DataDir={Path.Combine(_dir, "var")}", "--Tftp:Enabled=false");
        Assert.Equal(2, code);
        Assert.Contains("already in use", stderr, StringComparison.Ordinal);
        Assert.Contains("--urls", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Version_PrintsVersionAndCommit()
    {
        var (code, stdout, _) = await KldloadProcess.RunAsync(_dir, "version");
        Assert.Equal(0, code);
        Assert.Matches(@"^kldload \d+\.\d+\.\d+ \(commit [0-9a-f]{7,40}\)", stdout);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("serve", "--help")]
    [InlineData("version", "--help")]
    public async Task Help_EveryCommand_ExitsZeroWithUsage(params string[] args)
    {
        var (code, stdout, _) = await KldloadProcess.RunAsync(_dir, args);
        Assert.Equal(0, code);
        Assert.Contains("Usage:", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_UnknownArgument_ExitsTwo()
    {
        var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, "serve", "--bogus");
        Assert.Equal(2, code);
        Assert.Contains("unrecognised argument '--bogus'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_MisspeltSectionOnTheCommandLineOrInTheEnvironment_ExitsTwoNamingIt()
    {
        var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, "serve", "--Dhcpp:Mode=Full");
        Assert.Equal(2, code);
        Assert.Contains("Dhcpp:Mode = 'Full': unknown section 'Dhcpp' (did you mean 'Dhcp'?", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await KldloadProcess.RunAsync(_dir, new Dictionary<string, string> { ["KLDLOAD_MEHS__ENABLED"] = "true" }, "serve");
        Assert.Equal(2, code);
        Assert.Contains("MEHS:ENABLED = 'true': unknown section 'MEHS' (did you mean 'Mesh'?", stderr, StringComparison.Ordinal);
    }
}
