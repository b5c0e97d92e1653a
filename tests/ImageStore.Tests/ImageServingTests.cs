using System.Security.Cryptography;
using System.Text.Json;

namespace Kldload.ImageStore.Tests;

/// <summary>
/// The real <c>kldload serve</c> process and the real CLI on one data directory (LiteDB shared
/// mode), checked with curl.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class ImageServingTests : IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), $"klimg-serve-{Guid.NewGuid():N}");

    public ImageServingTests() => Directory.CreateDirectory(_dataDir);

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);

    private string MakeImage(string tag, byte[]? kernel = null, int initrdBytes = 3 << 20)
    {
        var dir = Path.Combine(_dataDir, "src-" + tag);
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "vmlinuz"), kernel ?? RandomNumberGenerator.GetBytes(50_000));
        File.WriteAllBytes(Path.Combine(dir, "initrd.img"), RandomNumberGenerator.GetBytes(initrdBytes));
        return dir;
    }

    private async Task ImportAsync(string dir, string name, string version, params string[] extra)
    {
        var (code, stdout, stderr) = await KldloadProcess.RunOnDataAsync(_dataDir, ["image", "import", dir, "--name", name, "--version", version, .. extra]);
        Assert.True(code == 0, $"import exited {code}: {stdout} {stderr}");
    }

    private async Task<byte[]> GetAsync(Uri url)
    {
        var file = Path.Combine(_dataDir, $"get-{Guid.NewGuid():N}");
        var (code, _, stderr) = await Curl.RunAsync("--fail", "-o", file, url.ToString());
        Assert.True(code == 0, $"curl {url}: {stderr}");
        return await File.ReadAllBytesAsync(file);
    }

    [Fact]
    public async Task Serve_ImportedByCliWhileRunning_CurlGetsExactBytesWithEtagRangeAndHead()
    {
        var (server, url) = await KldloadProcess.ServeAsync(_dataDir);
        await using var _ = server;
        var efi = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "TestData", "snponly.signed.efi"));
        var dir = MakeImage("a", kernel: efi);
        await ImportAsync(dir, "live", "1", "--channel", "stable");
        var initrd = await File.ReadAllBytesAsync(Path.Combine(dir, "initrd.img"));
        var digest = Sha256Digest.Of(initrd).ToString();

        // Full GET by digest, by name/version and by channel: byte for byte what was imported.
        Assert.Equal(initrd, await GetAsync(new Uri(url, $"/images/{digest}")));
        Assert.Equal(efi, await GetAsync(new Uri(url, "/images/live/1/kernel")));
        Assert.Equal(initrd, await GetAsync(new Uri(url, "/images/channels/stable/initrd")));

        // HEAD: headers only, with the length and the digest as ETag.
        var head = await Curl.RunAsync("-I", new Uri(url, $"/images/{digest}").ToString());
        Assert.Contains("HTTP/1.1 200", head.Stdout, StringComparison.Ordinal);
        Assert.Contains($"Content-Length: {initrd.Length}", head.Stdout, StringComparison.OrdinalIgnoreCase);
        Assert.Contains($"ETag: \"{digest}\"", head.Stdout, StringComparison.OrdinalIgnoreCase);

        // A single range: 206 with Content-Range and exactly those bytes.
        var part = Path.Combine(_dataDir, "part");
        var range = await Curl.RunAsync("-r", "1000-2999", "-D", "-", "-o", part, new Uri(url, $"/images/{digest}").ToString());
        Assert.Contains("HTTP/1.1 206", range.Stdout, StringComparison.Ordinal);
        Assert.Contains($"Content-Range: bytes 1000-2999/{initrd.Length}", range.Stdout, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(initrd.AsSpan(1000, 2000).ToArray(), await File.ReadAllBytesAsync(part));

        // Revalidation by ETag.
        var cached = await Curl.RunAsync("-o", "/dev/null", "-w", "%{http_code}", "-H", $"If-None-Match: \"{digest}\"", new Uri(url, $"/images/{digest}").ToString());
        Assert.Equal("304", cached.Stdout);

        foreach (var missing in new[] { "/images/" + new string('0', 64), "/images/NOTADIGEST", "/images/live/1/rootfs", "/images/live/2/kernel", "/images/channels/nope/kernel" })
        {
            var r = await Curl.RunAsync("-o", "/dev/null", "-w", "%{http_code}", new Uri(url, missing).ToString());
            Assert.True(r.Stdout == "404", $"{missing}: {r.Stdout}");
        }
    }

    [Fact]
    public async Task Rollback_ByCli_ChannelServesPreviousImageAndHistoryShowsBoth()
    {
        var (server, url) = await KldloadProcess.ServeAsync(_dataDir);
        await using var _ = server;
        var v1 = MakeImage("v1", initrdBytes: 100_000);
        var v2 = MakeImage("v2", initrdBytes: 100_000);
        await ImportAsync(v1, "live", "1", "--channel", "stable");
        await ImportAsync(v2, "live", "2");
        Assert.Equal(0, (await KldloadProcess.RunOnDataAsync(_dataDir, "image", "promote", "live", "2", "--channel", "stable")).ExitCode);
        var channelInitrd = new Uri(url, "/images/channels/stable/initrd");
        var channelKernel = new Uri(url, "/images/channels/stable/kernel");
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(v2, "initrd.img")), await GetAsync(channelInitrd));

        var rollback = await KldloadProcess.RunOnDataAsync(_dataDir, "image", "rollback", "--channel", "stable");
        Assert.Equal(0, rollback.ExitCode);
        Assert.Contains("live/2 -> live/1", rollback.Stdout, StringComparison.Ordinal);

        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(v1, "initrd.img")), await GetAsync(channelInitrd));
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(v1, "vmlinuz")), await GetAsync(channelKernel));

        var show = await KldloadProcess.RunOnDataAsync(_dataDir, "image", "show", "--channel", "stable", "--json");
        Assert.Equal(0, show.ExitCode);
        using var doc = JsonDocument.Parse(show.Stdout);
        Assert.Equal("1", doc.RootElement.GetProperty("version").GetString());
        var history = doc.RootElement.GetProperty("history").EnumerateArray().Select(h => $"{h.GetProperty("action").GetString()} {h.GetProperty("from").GetString()}->{h.GetProperty("to").GetString()}").ToList();
        Assert.Equal(["promote ->live/1", "promote live/1->live/2", "rollback live/2->live/1"], history);
    }

    [Fact]
    public async Task Serve_BlobCorruptedOnDisk_NeverServed()
    {
        var (server, url) = await KldloadProcess.ServeAsync(_dataDir);
        await using var _ = server;
        var dir = MakeImage("c", initrdBytes: 200_000);
        await ImportAsync(dir, "live", "1");
        var initrd = await File.ReadAllBytesAsync(Path.Combine(dir, "initrd.img"));
        var digest = Sha256Digest.Of(initrd).ToString();
        var blob = Path.Combine(_dataDir, "images", "blobs", digest);
        Assert.Equal(initrd, await GetAsync(new Uri(url, $"/images/{digest}")));

        // Same size, one bit flipped, new mtime: the server re-hashes before serving again.
        initrd[12345] ^= 0x80;
        await File.WriteAllBytesAsync(blob, initrd);
        File.SetLastWriteTimeUtc(blob, DateTime.UtcNow.AddMinutes(1));
        foreach (var path in new[] { $"/images/{digest}", "/images/live/1/initrd" })
        {
            var r = await Curl.RunAsync("-o", "/dev/null", "-w", "%{http_code}", new Uri(url, path).ToString());
            Assert.Equal("500", r.Stdout);
        }

        var verify = await KldloadProcess.RunOnDataAsync(_dataDir, "image", "verify");
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains($"blob {digest}: corrupt", verify.Stdout, StringComparison.Ordinal);
        Assert.Contains("live/1", verify.Stderr, StringComparison.Ordinal);
    }
}
