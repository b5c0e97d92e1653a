namespace Kldload.Provisioner.Tests.Cli;

/// <summary><c>kldload profiles set</c> with an install block, against the real binary serving the admin API.</summary>
[Trait("Tier", "Integration")]
public sealed class ProfileInstallCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("klprof-install-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<(int ExitCode, string Stdout, string Stderr)> Cli(params string[] args) =>
        KldloadProcess.RunAsync(_dir, [.. args, $"--Kldload:DataDir={Path.Combine(_dir, "var")}"]);

    [Fact]
    public async Task ProfilesSet_InstallBlock_BadOneRefusedWithEveryErrorGoodOneShownAsWritten()
    {
        await using var server = KldloadProcess.Start(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={Path.Combine(_dir, "var")}", "--Tftp:Enabled=false");
        await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        var file = Path.Combine(_dir, "zfs.json");
        await File.WriteAllTextAsync(file, """{ "match": { "labels": { "role": "db" } }, "install": { "target": "zfs", "disks": ["/dev/sda", "/dev/sda", "sdb"] } }""");

        var (code, _, stderr) = await Cli("profiles", "set", "zfs", "-f", file);

        Assert.Equal(1, code);
        Assert.Contains("install.target 'zfs': allowed: zfs-root; install.disks 'sdb': not a whole-disk path", stderr, StringComparison.Ordinal);
        Assert.Contains("install.disks '/dev/sda': named 2 times", stderr, StringComparison.Ordinal);

        await File.WriteAllTextAsync(file, """{ "match": { "labels": { "role": "db" } }, "install": { "target": "zfs-root", "disks": "auto" } }""");
        (code, _, stderr) = await Cli("profiles", "set", "zfs", "-f", file);
        Assert.True(code == 0, stderr);
        (code, var shown, stderr) = await Cli("profiles", "show", "zfs");
        Assert.True(code == 0, stderr);
        Assert.Contains("\"disks\": \"auto\"", shown, StringComparison.Ordinal);
        Assert.Contains("\"target\": \"zfs-root\"", shown, StringComparison.Ordinal);
    }
}
