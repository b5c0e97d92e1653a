using System.Text.Json;

namespace Kldload.Provisioner.Tests.Package;

/// <summary>
/// Builds the Debian package once (<c>scripts/build-deb.sh</c>, as <c>make deb</c> does) and unpacks
/// it into a throwaway root for the tests of this class.
/// </summary>
public sealed class DebPackageFixture : IAsyncLifetime
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("kldeb-").FullName;

    public string Deb { get; private set; } = "";

    /// <summary>The package unpacked with <c>dpkg-deb -x</c>: usr/bin/kldload, etc/kldload, lib/systemd.</summary>
    public string Root => Path.Combine(Directory, "root");

    public string Binary => Path.Combine(Root, "usr", "bin", "kldload");

    public async Task InitializeAsync()
    {
        var (code, stdout, stderr) = await DebPackageTests.RunAsync(Path.Combine(RepositoryPaths.Root, "scripts", "build-deb.sh"), [Path.Combine(Directory, "out")], TimeSpan.FromMinutes(20));
        Assert.True(code == 0, $"build-deb.sh failed ({code}):\n{stdout}\n{stderr}");
        Deb = stdout.Trim().Split('\n')[^1];
        Assert.True(File.Exists(Deb), $"build-deb.sh printed {Deb}, which does not exist");
        (code, _, stderr) = await DebPackageTests.RunAsync("dpkg-deb", ["-x", Deb, Root], TimeSpan.FromMinutes(2));
        Assert.True(code == 0, stderr);
    }

    public Task DisposeAsync()
    {
        System.IO.Directory.Delete(Directory, recursive: true);
        return Task.CompletedTask;
    }
}

[Trait("Tier", "Package")]
public sealed class DebPackageTests(DebPackageFixture package) : IClassFixture<DebPackageFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldeb-run-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Deb_Control_DependsOnLoadersAndRuntimeLibraries()
    {
        var (code, stdout, stderr) = await RunAsync("dpkg-deb", ["--field", package.Deb, "Package", "Architecture", "Depends", "Recommends"], TimeSpan.FromMinutes(1));

        Assert.True(code == 0, stderr);
        Assert.Contains("Package: kldload", stdout, StringComparison.Ordinal);
        Assert.Contains("Architecture: amd64", stdout, StringComparison.Ordinal);
        var depends = stdout.Split('\n').Single(l => l.StartsWith("Depends:", StringComparison.Ordinal));
        foreach (var p in new[] { "ipxe", "libssl3", "adduser" })
        {
            Assert.Contains(p, depends, StringComparison.Ordinal);
        }

        Assert.Contains("wireguard-tools", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deb_Contents_OneExecutableFileAConffileAndTheUnit()
    {
        var (code, stdout, stderr) = await RunAsync("dpkg-deb", ["--contents", package.Deb], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        // The executable itself (a regular file, mode 0755, root-owned), not a link to a directory of DLLs.
        var binary = Assert.Single(lines, l => l.EndsWith(" ./usr/bin/kldload", StringComparison.Ordinal));
        Assert.StartsWith("-rwxr-xr-x root/root", binary, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.Contains("./usr/bin/", StringComparison.Ordinal) && !l.EndsWith("/usr/bin/", StringComparison.Ordinal) && !l.EndsWith("/kldload", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" ./lib/systemd/system/kldload.service", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" ./usr/share/man/man1/kldload.1.gz", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" ./usr/share/bash-completion/completions/kldload", StringComparison.Ordinal) && l.StartsWith("-rw-r--r-- root/root", StringComparison.Ordinal));

        // The settings are a conffile: an upgrade keeps the operator's edits.
        (code, stdout, stderr) = await RunAsync("dpkg-deb", ["--info", package.Deb, "conffiles"], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, stderr);
        Assert.Equal("/etc/kldload/appsettings.json", stdout.Trim());
        var settings = await File.ReadAllTextAsync(Path.Combine(package.Root, "etc", "kldload", "appsettings.json"));
        Assert.Contains("\"DataDir\": \"/var/lib/kldload\"", settings, StringComparison.Ordinal);
        Assert.Contains("\"Urls\": [ \"https://127.0.0.1:8443\", \"https://mesh-hub:8443\" ]", settings, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PackagedBinary_VersionServeCliAndStop_WorkWithoutDotnet()
    {
        // The packaged binary with the packaged settings beside it; only the data directory moves to a
        // temporary one. No dotnet on PATH: the binary is self-contained.
        var bin = Path.Combine(_dir, "bin");
        Directory.CreateDirectory(bin);
        File.Copy(package.Binary, Path.Combine(bin, "kldload"));
        File.SetUnixFileMode(Path.Combine(bin, "kldload"), (UnixFileMode)0b111_101_101);
        File.Copy(Path.Combine(package.Root, "etc", "kldload", "appsettings.json"), Path.Combine(bin, "appsettings.json"));
        var exe = Path.Combine(bin, "kldload");
        var env = new Dictionary<string, string>
        {
            ["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin",
            ["DOTNET_ROOT"] = "/nonexistent",
            ["DOTNET_BUNDLE_EXTRACT_BASE_DIR"] = Path.Combine(_dir, "bundle"),
        };
        var dataDir = Path.Combine(_dir, "var");

        var (code, stdout, stderr) = await RunKldloadAsync(exe, env, ["version"]);
        Assert.True(code == 0, stderr);
        Assert.StartsWith("kldload ", stdout, StringComparison.Ordinal);

        // The packaged Admin:Urls with its loopback entry on a free port (the mesh is off: no mesh-hub listener).
        await using var server = KldloadProcess.StartFile(exe, _dir, env, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={dataDir}", "--Tftp:Enabled=false", "--Admin:Urls:0=https://127.0.0.1:0");
        var url = await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = url };
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
        // The iPXE templates are embedded in the one file: a boot script renders and the node is recorded.
        var script = await http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:de:b0:01&platform=efi", UriKind.Relative));
        Assert.StartsWith("#!ipxe", script, StringComparison.Ordinal);

        // The admin API is not on the boot LAN listener; the CLI on the data directory finds it (TLS,
        // loopback) without --server (JSON over the admin API, trimmed System.Text.Json in both processes).
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative))).StatusCode);
        (code, stdout, stderr) = await RunKldloadAsync(exe, env, ["nodes", "list", "--json", $"--Kldload:DataDir={dataDir}"]);
        Assert.True(code == 0, stderr);
        var nodes = JsonDocument.Parse(stdout).RootElement;
        Assert.Contains(nodes.EnumerateArray(), n => n.GetRawText().Contains("52:54:00:de:b0:01", StringComparison.Ordinal));

        server.Signal("TERM");
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(30)), "kldload did not stop on SIGTERM");
        Assert.Equal(0, server.ExitCode);
    }

    [Fact]
    public async Task Unit_SystemdAnalyzeVerify_NoFindings()
    {
        // Verified inside a copy of the unpacked root (where /usr/bin/kldload exists) that also holds the
        // host's own units, which kldload.service's default dependencies (sysinit.target) name.
        var root = Path.Combine(_dir, "root");
        var (code, stdout, stderr) = await RunAsync("cp", ["-a", package.Root + "/.", root], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, stderr);
        (code, _, stderr) = await RunAsync("cp", ["-rn", "/lib/systemd/system/.", Path.Combine(root, "lib", "systemd", "system")], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, stderr);

        (code, stdout, stderr) = await RunAsync("systemd-analyze", ["verify", "--man=no", "--root", root, "/lib/systemd/system/kldload.service"], TimeSpan.FromMinutes(1));

        Assert.True(code == 0, $"{stdout}\n{stderr}");
        Assert.DoesNotContain("kldload.service", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lintian_NoErrorsOrWarnings()
    {
        var (code, stdout, stderr) = await RunAsync("lintian", ["--fail-on", "error,warning", "--display-info", package.Deb], TimeSpan.FromMinutes(10));

        // Kept beside the test results for the reviewer, whatever the outcome.
        var artifacts = Path.Combine(RepositoryPaths.Root, "artifacts", "lintian");
        Directory.CreateDirectory(artifacts);
        await File.WriteAllTextAsync(Path.Combine(artifacts, "kldload.txt"), stdout + stderr);
        Assert.True(code == 0, $"lintian {code}:\n{stdout}\n{stderr}");
        Assert.DoesNotContain("E: ", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("W: ", stdout, StringComparison.Ordinal);
    }

    private async Task<(int ExitCode, string Stdout, string Stderr)> RunKldloadAsync(string exe, Dictionary<string, string> env, string[] args)
    {
        await using var p = KldloadProcess.StartFile(exe, _dir, env, args);
        Assert.True(await p.WaitForExitAsync(TimeSpan.FromSeconds(60)), $"kldload {string.Join(' ', args)} did not finish");
        return (p.ExitCode, p.Stdout, p.Stderr);
    }

    /// <summary>Runs a tool to completion off the test's thread; killed (and a <see cref="TimeoutException"/> thrown) past <paramref name="timeout"/>.</summary>
    internal static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var r = await Task.Run(() => ExternalTool.TryRun(file, args, timeout: timeout));
        return (r.ExitCode, r.StdOut, r.StdErr);
    }
}
