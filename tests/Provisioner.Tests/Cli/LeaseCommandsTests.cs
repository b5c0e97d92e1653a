namespace Kldload.Provisioner.Tests.Cli;

/// <summary>`kldload leases ...` as an operator types it, against a running `kldload serve`.</summary>
[Trait("Tier", "Integration")]
public sealed class LeaseCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-leases-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Leases_Show6Release6_Dhcp6Off_ExitOneNamingTheSetting()
    {
        var dataDir = Path.Combine(_dir, "var");
        await using var server = KldloadProcess.Start(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={dataDir}", "--Tftp:Enabled=false");
        var url = await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        string[] common = ["--server", url.ToString(), $"--Kldload:DataDir={dataDir}"];

        foreach (var command in new[] { "show6", "release6" })
        {
            var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, ["leases", command, "fd00:77::100", .. common]);
            Assert.Equal(1, code);
            Assert.Contains("409", stderr, StringComparison.Ordinal);
            Assert.Contains("Dhcp6:Mode", stderr, StringComparison.Ordinal);
        }
    }
}
