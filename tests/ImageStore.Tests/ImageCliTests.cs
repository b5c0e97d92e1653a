using System.Security.Cryptography;
using System.Text.Json;

namespace Kldload.ImageStore.Tests;

/// <summary>The real <c>kldload image</c> CLI as a child process.</summary>
[Trait("Tier", "Integration")]
public sealed class ImageCliTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"klimg-cli-{Guid.NewGuid():N}");

    public ImageCliTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string NewDataDir(string name)
    {
        var d = Path.Combine(_root, name);
        Directory.CreateDirectory(d);
        return d;
    }

    [Fact]
    public async Task Import_KilledMidCopy_NoPartialVisibleAndReimportSucceeds()
    {
        var data = NewDataDir("data");
        var src = Path.Combine(_root, "big");
        Directory.CreateDirectory(src);
        await File.WriteAllBytesAsync(Path.Combine(src, "kernel"), RandomNumberGenerator.GetBytes(4096));
        using (var f = File.Create(Path.Combine(src, "initrd.img")))
        {
            f.SetLength(768L << 20); // sparse: cheap to create, still 768 MiB to copy and fsync
        }

        var blobs = Path.Combine(data, "images", "blobs");
        await using (var import = KldloadProcess.StartOnData(data, "image", "import", src, "--name", "big", "--version", "1", "--channel", "stable"))
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!Directory.Exists(blobs) || !Directory.EnumerateFiles(blobs, BlobStore.TempPrefix + "*").Any(p => SizeOf(p) > (32 << 20)))
            {
                Assert.False(import.HasExited, $"import finished before it could be killed: {import.Stdout} {import.Stderr}");
                Assert.True(DateTime.UtcNow < deadline, "the import never got going");
                await Task.Delay(5);
            }

            import.KillHard(); // SIGKILL by PID, mid-copy
        }

        // Nothing partial is visible: every blob name verifies, no image and no channel exist.
        foreach (var path in Directory.EnumerateFiles(blobs))
        {
            if (Sha256Digest.TryParse(Path.GetFileName(path), out var d))
            {
                Assert.Equal(d.Value, (await BlobStore.HashFileAsync(path)).Digest);
            }
        }

        var list = await KldloadProcess.RunOnDataAsync(data, "image", "list", "--json");
        Assert.Equal(0, list.ExitCode);
        using (var doc = JsonDocument.Parse(list.Stdout))
        {
            Assert.Equal(0, doc.RootElement.GetProperty("images").GetArrayLength());
            Assert.Equal(0, doc.RootElement.GetProperty("channels").GetArrayLength());
        }

        var again = await KldloadProcess.RunOnDataAsync(data, "image", "import", src, "--name", "big", "--version", "1", "--channel", "stable", "--quiet");
        Assert.True(again.ExitCode == 0, again.Stderr);
        var show = await KldloadProcess.RunOnDataAsync(data, "image", "show", "--channel", "stable", "--json");
        using var shown = JsonDocument.Parse(show.Stdout);
        Assert.Equal(768L << 20, shown.RootElement.GetProperty("initrdSize").GetInt64());
        Assert.Equal(0, (await KldloadProcess.RunOnDataAsync(data, "image", "verify", "--quiet")).ExitCode);
    }

    [Fact]
    public async Task ExportImport_SignedBundleBetweenSites_ImportsAndTamperedRefused()
    {
        var site = NewDataDir("site");
        var airgap = NewDataDir("airgap");
        var keys = Path.Combine(_root, "keys");
        Directory.CreateDirectory(keys);
        Assert.Equal(0, (await KldloadProcess.RunOnDataAsync(site, "image", "keygen", "-o", Path.Combine(keys, "release"))).ExitCode);
        var trusted = Path.Combine(airgap, "images", "trusted-keys");
        Directory.CreateDirectory(trusted);
        File.Copy(Path.Combine(keys, "release.pub"), Path.Combine(trusted, "release.pub"));

        var src = Path.Combine(_root, "src");
        Directory.CreateDirectory(src);
        await File.WriteAllBytesAsync(Path.Combine(src, "vmlinuz-6.12.0"), RandomNumberGenerator.GetBytes(70_000));
        await File.WriteAllBytesAsync(Path.Combine(src, "initrd.img-6.12.0"), RandomNumberGenerator.GetBytes(300_000));
        await File.WriteAllTextAsync(Path.Combine(src, "manifest.json"), """{ "name": "debian-live", "version": "13.2", "cmdline": "console=ttyS0" }""");
        Assert.Equal(0, (await KldloadProcess.RunOnDataAsync(site, "image", "import", src, "--channel", "stable")).ExitCode);

        var bundle = Path.Combine(_root, "stable.tar.zst");
        var export = await KldloadProcess.RunOnDataAsync(site, "image", "export", "--channel", "stable", "-o", bundle, "--sign", Path.Combine(keys, "release.key"));
        Assert.True(export.ExitCode == 0, export.Stderr);

        // Tampered copy first: refused with one line, exit 1, nothing imported.
        var tampered = Path.Combine(_root, "tampered.tar.zst");
        var bytes = await File.ReadAllBytesAsync(bundle);
        bytes[bytes.Length - 100] ^= 0x04;
        await File.WriteAllBytesAsync(tampered, bytes);
        var refused = await KldloadProcess.RunOnDataAsync(airgap, "image", "import", tampered, "--channel", "stable");
        Assert.Equal(1, refused.ExitCode);
        Assert.Single(refused.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("kldload:", StringComparison.Ordinal));
        Assert.Contains("nothing imported", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("no images", (await KldloadProcess.RunOnDataAsync(airgap, "image", "list")).Stdout, StringComparison.Ordinal);

        var imported = await KldloadProcess.RunOnDataAsync(airgap, "image", "import", bundle, "--channel", "stable");
        Assert.True(imported.ExitCode == 0, imported.Stderr);
        var a = await KldloadProcess.RunOnDataAsync(site, "image", "show", "--channel", "stable", "--json");
        var b = await KldloadProcess.RunOnDataAsync(airgap, "image", "show", "--channel", "stable", "--json");
        using var da = JsonDocument.Parse(a.Stdout);
        using var db = JsonDocument.Parse(b.Stdout);
        foreach (var p in new[] { "name", "version", "kernel", "initrd", "cmdline" })
        {
            Assert.Equal(da.RootElement.GetProperty(p).GetString(), db.RootElement.GetProperty(p).GetString());
        }
    }

    [Fact]
    public async Task Gc_AfterDelete_RemovesOnlyUnreferencedBlobs()
    {
        var data = NewDataDir("gc");
        var shared = RandomNumberGenerator.GetBytes(10_000);
        foreach (var v in new[] { "1", "2" })
        {
            var src = Path.Combine(_root, "gc-src" + v);
            Directory.CreateDirectory(src);
            await File.WriteAllBytesAsync(Path.Combine(src, "kernel"), shared);
            await File.WriteAllBytesAsync(Path.Combine(src, "initrd"), RandomNumberGenerator.GetBytes(20_000));
            Assert.Equal(0, (await KldloadProcess.RunOnDataAsync(data, "image", "import", src, "--name", "live", "--version", v, "--quiet")).ExitCode);
        }

        Assert.Equal(0, (await KldloadProcess.RunOnDataAsync(data, "image", "promote", "live", "2", "--channel", "stable")).ExitCode);
        var refused = await KldloadProcess.RunOnDataAsync(data, "image", "delete", "live", "2");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("still used by channel stable", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, (await KldloadProcess.RunOnDataAsync(data, "image", "delete", "live", "1")).ExitCode);

        var dry = await KldloadProcess.RunOnDataAsync(data, "image", "gc", "--dry-run", "--min-age", "00:00:00");
        Assert.Contains("would remove 1 blob(s)", dry.Stdout, StringComparison.Ordinal);
        var dryJson = await KldloadProcess.RunOnDataAsync(data, "image", "gc", "--dry-run", "--min-age", "00:00:00", "--json");
        Assert.Equal(0, dryJson.ExitCode);
        using (var doc = System.Text.Json.JsonDocument.Parse(dryJson.Stdout))
        {
            Assert.True(doc.RootElement.GetProperty("dryRun").GetBoolean());
            var removed = Assert.Single(doc.RootElement.GetProperty("removed").EnumerateArray());
            Assert.Matches("^[0-9a-f]{64}$", removed.GetProperty("digest").GetString());
            Assert.Equal(20_000, removed.GetProperty("size").GetInt64());
            Assert.Equal(2, doc.RootElement.GetProperty("kept").GetInt32());
        }

        var gc = await KldloadProcess.RunOnDataAsync(data, "image", "gc", "--min-age", "00:00:00");
        Assert.Equal(0, gc.ExitCode);
        Assert.Contains("removed 1 blob(s)", gc.Stdout, StringComparison.Ordinal);
        Assert.Contains("kept 2", gc.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(data, "images", "blobs")).Length);
        Assert.Equal(0, (await KldloadProcess.RunOnDataAsync(data, "image", "verify")).ExitCode);
    }

    [Fact]
    public async Task Cli_ServerRunning_CatalogChangesGoThroughItsApi()
    {
        var data = NewDataDir("served");
        var src = await MakeImageDirAsync("served-src");
        var (server, url) = await KldloadProcess.ServeAsync(data);
        await using (server)
        {
            // The server holds the data directory (and kldload.db, opened in direct mode) and
            // published where its admin API answers; the CLI's changes are the server's own.
            Assert.True(File.Exists(Path.Combine(data, "kldload.url")));
            var import = await KldloadProcess.RunOnDataAsync(data, "image", "import", src, "--name", "live", "--version", "1", "--channel", "stable", "--quiet");
            Assert.True(import.ExitCode == 0, import.Stderr);
            var kernel = await File.ReadAllBytesAsync(Path.Combine(src, "kernel"));
            var served = await Curl.RunAsync("-o", Path.Combine(_root, "served-kernel"), "-w", "%{http_code}", new Uri(url, "/images/channels/stable/kernel").ToString());
            Assert.Equal("200", served.Stdout);
            Assert.Equal(kernel, await File.ReadAllBytesAsync(Path.Combine(_root, "served-kernel")));

            var show = await KldloadProcess.RunOnDataAsync(data, "image", "show", "--channel", "stable", "--json");
            Assert.True(show.ExitCode == 0, show.Stderr);
            using (var doc = JsonDocument.Parse(show.Stdout))
            {
                var by = doc.RootElement.GetProperty("history")[0].GetProperty("by").GetString();
                Assert.Equal("admin", by);
            }

            var refused = await KldloadProcess.RunOnDataAsync(data, "image", "delete", "live", "1");
            Assert.Equal(1, refused.ExitCode);
            Assert.Equal("kldload: image delete: image live/1 is still used by channel stable", refused.Stderr.Trim());
            Assert.Equal(0, (await KldloadProcess.RunOnDataAsync(data, "image", "import", await MakeImageDirAsync("served-src2"), "--name", "live", "--version", "2", "--quiet")).ExitCode);
            Assert.Equal(0, (await KldloadProcess.RunOnDataAsync(data, "image", "delete", "live", "2")).ExitCode);
            var gc = await KldloadProcess.RunOnDataAsync(data, "image", "gc", "--min-age", "00:00:00");
            Assert.True(gc.ExitCode == 0, gc.Stderr);
            Assert.Contains("removed 2 blob(s)", gc.Stdout, StringComparison.Ordinal);
            var verify = await KldloadProcess.RunOnDataAsync(data, "image", "verify");
            Assert.Contains("all 2 blob(s) of 1 image(s) verified", verify.Stdout, StringComparison.Ordinal);
        }

        // Killed (SIGKILL): its published URL is left behind, but the lock went with the process, so
        // the CLI opens the database itself again and never asks the dead address.
        Assert.True(File.Exists(Path.Combine(data, "kldload.url")));
        var list = await KldloadProcess.RunOnDataAsync(data, "image", "list", "--json");
        Assert.True(list.ExitCode == 0, list.Stderr);
        using var listed = JsonDocument.Parse(list.Stdout);
        Assert.Equal("1", Assert.Single(listed.RootElement.GetProperty("images").EnumerateArray()).GetProperty("version").GetString());
    }

    [Fact]
    public async Task Cli_ServerStopped_OpensTheDatabaseAndTheNextServerSeesIt()
    {
        var data = NewDataDir("direct");
        var src = await MakeImageDirAsync("direct-src");
        var import = await KldloadProcess.RunOnDataAsync(data, "image", "import", src, "--name", "live", "--version", "1", "--channel", "stable", "--quiet");
        Assert.True(import.ExitCode == 0, import.Stderr);
        var show = await KldloadProcess.RunOnDataAsync(data, "image", "show", "--channel", "stable", "--json");
        using (var doc = JsonDocument.Parse(show.Stdout))
        {
            Assert.EndsWith("(cli)", doc.RootElement.GetProperty("history")[0].GetProperty("by").GetString(), StringComparison.Ordinal);
        }

        // The command released the lock: a server starts on the directory and serves the image.
        var (server, url) = await KldloadProcess.ServeAsync(data);
        await using (server)
        {
            var served = await Curl.RunAsync("-o", "/dev/null", "-w", "%{http_code}", new Uri(url, "/images/live/1/initrd").ToString());
            Assert.Equal("200", served.Stdout);
        }
    }

    [Fact]
    public async Task Cli_LockHeldAndNoServerAnswers_OneClearLine()
    {
        var data = NewDataDir("held");

        // A lock holder that published no URL (another command, a server still starting): waited for, then refused.
        using (new FileStream(Path.Combine(data, "kldload.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var r = await KldloadProcess.RunOnDataAsync(data, "image", "list");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("kldload.lock is held by a process that publishes no admin URL", r.Stderr, StringComparison.Ordinal);
            Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));

            // A published URL where nothing listens (a port just closed): the server is named as not answering.
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            await File.WriteAllTextAsync(Path.Combine(data, "kldload.url"), $"http://127.0.0.1:{port}/\n");
            await File.WriteAllTextAsync(Path.Combine(data, "admin.token"), "not-a-real-token\n");
            var down = await KldloadProcess.RunOnDataAsync(data, "image", "list");
            Assert.Equal(1, down.ExitCode);
            Assert.Contains($"admin API at http://127.0.0.1:{port}/ did not answer", down.Stderr, StringComparison.Ordinal);
            Assert.Empty(down.Stdout);
        }

        Assert.False(File.Exists(Path.Combine(data, "kldload.db")));
    }

    private async Task<string> MakeImageDirAsync(string name)
    {
        var dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        await File.WriteAllBytesAsync(Path.Combine(dir, "kernel"), RandomNumberGenerator.GetBytes(5_000));
        await File.WriteAllBytesAsync(Path.Combine(dir, "initrd"), RandomNumberGenerator.GetBytes(9_000));
        return dir;
    }

    [Theory]
    [InlineData(2, "image", "show")]
    [InlineData(2, "image", "promote", "live")]
    [InlineData(2, "image", "export", "--channel", "stable", "--version", "a/1", "-o", "x.tar", "--sign", "k")]
    [InlineData(2, "image", "list", "--Images:NoSuchKey=1")]
    [InlineData(1, "image", "promote", "live", "9", "--channel", "stable")]
    [InlineData(1, "image", "rollback", "--channel", "stable")]
    [InlineData(1, "image", "import", "/nonexistent/path", "--name", "a", "--version", "1")]
    public async Task Cli_BadInput_ExitCodeAndOneLine(int expected, params string[] args)
    {
        var data = NewDataDir("bad");
        var r = await KldloadProcess.RunOnDataAsync(data, args);
        Assert.Equal(expected, r.ExitCode);
        Assert.Contains("kldload", r.Stderr, StringComparison.Ordinal);
        Assert.Empty(r.Stdout);
    }

    /// <summary>A temporary blob's size; 0 when it was renamed or removed since it was listed.</summary>
    private static long SizeOf(string path)
    {
        try
        {
            return new FileInfo(path).Length;
        }
        catch (FileNotFoundException)
        {
            return 0;
        }
    }
}
