using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.ImageStore;

namespace Kldload.Provisioner.Tests.Boot;

/// <summary>The iPXE script and the image routes over the real image store.</summary>
[Trait("Tier", "Integration")]
public sealed class StoreBootTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-storeboot-").FullName;
    private TestHost _host = null!;

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(_dir, null, "--Boot:DefaultChannel=stable");

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<ImageManifest> ImportAsync(string version, byte[] kernel, byte[] initrd)
    {
        var src = Directory.CreateDirectory(Path.Combine(_dir, "src-" + version)).FullName;
        File.WriteAllBytes(Path.Combine(src, "kernel"), kernel);
        File.WriteAllBytes(Path.Combine(src, "initrd"), initrd);
        var store = _host.Service<LiveImageStore>();
        var result = await store.ImportDirectoryAsync(src, new DirectoryImportOptions { Name = "live", Version = version, CommandLine = "console=ttyS0" }, "test");
        store.Catalog.Promote("stable", new ImageKey("live", version), "test");
        return result.Images[0];
    }

    [Fact]
    public async Task BootIpxe_ChannelImage_LoadsKernelAndInitrdByDigestAndServesThem()
    {
        var kernel = RandomNumberGenerator.GetBytes(70_000);
        var initrd = RandomNumberGenerator.GetBytes(90_000);
        var manifest = await ImportAsync("1", kernel, initrd);

        var script = await _host.Http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:70:00:01&platform=pcbios", UriKind.Relative));
        var kernelUrl = script.Split('\n').Single(l => l.StartsWith("kernel ", StringComparison.Ordinal)).Split(' ')[1];
        var initrdUrl = script.Split('\n').Single(l => l.StartsWith("initrd ", StringComparison.Ordinal)).Split(' ')[1];
        Assert.EndsWith("/images/" + manifest.Kernel, kernelUrl, StringComparison.Ordinal);
        Assert.Equal(kernel, await _host.Http.GetByteArrayAsync(new Uri(kernelUrl)));
        Assert.Equal(initrd, await _host.Http.GetByteArrayAsync(new Uri(initrdUrl)));
        Assert.Contains(" console=ttyS0 kldload.server=", script, StringComparison.Ordinal);

        var node = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes/52:54:00:70:00:01", UriKind.Relative));
        Assert.Equal("live/1", node.GetProperty("lastBootedImage").GetString()!.Replace(' ', '/'));
    }

    [Fact]
    public async Task Rollback_NextBootTakesThePreviousImage_AndGcKeepsLastBooted()
    {
        var v1 = await ImportAsync("1", RandomNumberGenerator.GetBytes(10_000), RandomNumberGenerator.GetBytes(10_000));
        var v2 = await ImportAsync("2", RandomNumberGenerator.GetBytes(10_000), RandomNumberGenerator.GetBytes(10_000));
        Assert.Contains("/images/" + v2.Kernel, await _host.Http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:70:00:02&platform=efi", UriKind.Relative)), StringComparison.Ordinal);

        var store = _host.Service<LiveImageStore>();
        var rollback = await _host.Admin.PostAsync(new Uri("/api/v1/channels/stable/rollback", UriKind.Relative), null);
        Assert.True(rollback.IsSuccessStatusCode, await rollback.Content.ReadAsStringAsync());
        var channel = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/channels/stable", UriKind.Relative));
        Assert.Equal("live/1", channel.GetProperty("channel").GetProperty("current").GetString());
        Assert.Equal(["Promote", "Promote", "Rollback"], channel.GetProperty("history").EnumerateArray().Select(e => e.GetProperty("action").GetString()!).ToArray());
        var unauthenticated = await _host.Http.PostAsync(new Uri("/api/v1/channels/stable/rollback", UriKind.Relative), null);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
        Assert.Contains("/images/" + v1.Kernel, await _host.Http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:70:00:03&platform=efi", UriKind.Relative)), StringComparison.Ordinal);

        // The inventory's references reach the store: node ...:02 last booted live/2, so it is kept.
        var referenced = store.ReferenceSources.SelectMany(s => s.GetReferencedImages()).ToHashSet();
        Assert.Contains(new ImageKey("live", "2"), referenced);
        Assert.Contains(new ImageKey("live", "1"), referenced);
    }
}
