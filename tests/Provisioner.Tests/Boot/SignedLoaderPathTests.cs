using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.ImageStore;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Tests.Boot;

/// <summary>
/// The signed loader path (<c>Boot:Loader=grub</c>, issue 19) over a real host: shim and GRUB served from
/// their package paths under the names shim expects, GRUB's first configuration, the per-node
/// <c>grub/node/MAC.cfg</c> with the same token and arguments as <c>/boot.ipxe</c> and the image files it
/// names (all read through <c>/tftp/</c>, the TFTP listener's file source), and a profile's <c>loader</c>.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class SignedLoaderPathTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-signed-").FullName;
    private readonly byte[] _shim = [0x4D, 0x5A, 0x53, 0x48, 0x49, 0x4D];
    private readonly byte[] _grub = [0x4D, 0x5A, 0x47, 0x52, 0x55, 0x42];
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        var root = Directory.CreateDirectory(Path.Combine(_dir, "tftp")).FullName;
        File.WriteAllBytes(Path.Combine(root, "snponly.efi"), [0x4D, 0x5A, 1]);
        var packages = Directory.CreateDirectory(Path.Combine(_dir, "packages")).FullName;
        File.WriteAllBytes(Path.Combine(packages, "shimx64.efi.signed"), _shim);
        File.WriteAllBytes(Path.Combine(packages, "grubnetx64.efi.signed"), _grub);
        int port;
        using (var probe = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            port = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        }

        _host = await TestHost.StartAsync(_dir, null, "--Tftp:Enabled=true", $"--Tftp:Endpoint=127.0.0.1:{port}", $"--Tftp:Root={root}",
            "--Boot:Loader=Grub", "--Boot:DefaultChannel=stable",
            $"--Boot:Grub:ShimX64={Path.Combine(packages, "shimx64.efi.signed")}", $"--Boot:Grub:GrubX64={Path.Combine(packages, "grubnetx64.efi.signed")}");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Get_SignedLoaders_ServedUnderShimsNamesFromThePackagePaths()
    {
        Assert.Equal(_shim, await _host.Http.GetByteArrayAsync(new Uri("/tftp/shimx64.efi", UriKind.Relative)));
        Assert.Equal(_grub, await _host.Http.GetByteArrayAsync(new Uri("/tftp/grubx64.efi", UriKind.Relative)));
        Assert.Equal([0x4D, 0x5A, 1], await _host.Http.GetByteArrayAsync(new Uri("/tftp/snponly.efi", UriKind.Relative)));
        // Only the mapped names reach the package directory: its other names are not served.
        Assert.Equal(HttpStatusCode.NotFound, (await _host.Http.GetAsync(new Uri("/tftp/shimx64.efi.signed", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Get_GrubCfg_IsTheBootstrapReadingTheNodesOwnConfiguration()
    {
        var cfg = await _host.Http.GetStringAsync(new Uri("/tftp/grub/grub.cfg", UriKind.Relative));
        Assert.Equal(GrubConfig.Bootstrap(), cfg);
        Assert.EndsWith("configfile \"$prefix/node/${net_default_mac}.cfg\"\n", cfg, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NodeCfg_ChannelImage_LoadsKernelAndInitrdOverTftpWithTokenAndRecordsLoadOptions()
    {
        var kernel = RandomNumberGenerator.GetBytes(20_000);
        var initrd = RandomNumberGenerator.GetBytes(30_000);
        var src = Directory.CreateDirectory(Path.Combine(_dir, "src")).FullName;
        File.WriteAllBytes(Path.Combine(src, "kernel"), kernel);
        File.WriteAllBytes(Path.Combine(src, "initrd"), initrd);
        var store = _host.Service<LiveImageStore>();
        var manifest = (await store.ImportDirectoryAsync(src, new DirectoryImportOptions { Name = "live", Version = "1", CommandLine = "console=ttyS0 quiet" }, "test")).Images[0];
        store.Catalog.Promote("stable", new ImageKey("live", "1"), "test");

        var cfg = await _host.Http.GetStringAsync(new Uri("/tftp/grub/node/52:54:00:19:00:01.cfg", UriKind.Relative));

        var server = _host.Service<Kldload.Provisioner.Boot.ServerUrl>().Value.AbsoluteUri.TrimEnd('/');
        var lines = cfg.Split('\n');
        var linux = lines.Single(l => l.StartsWith("linux ", StringComparison.Ordinal));
        var token = linux.Split(' ').Last().Trim('\'')["kldload.token=".Length..];
        Assert.Equal($"linux /images/{manifest.Kernel} 'console=ttyS0' 'quiet' 'kldload.server={server}' 'kldload.token={token}'", linux);
        Assert.Equal($"initrd /images/{manifest.Initrd}", lines.Single(l => l.StartsWith("initrd ", StringComparison.Ordinal)));
        Assert.Equal("boot", lines.Where(l => l.Length > 0).Last());
        // The files it names are served over TFTP (read here through /tftp/, the same file source).
        Assert.Equal(kernel, await _host.Http.GetByteArrayAsync(new Uri($"/tftp/images/{manifest.Kernel}", UriKind.Relative)));
        Assert.Equal(initrd, await _host.Http.GetByteArrayAsync(new Uri($"/tftp/images/{manifest.Initrd}", UriKind.Relative)));

        // The token opens attestation like an iPXE one, and expects the command line GRUB hands the kernel.
        var issued = _host.Service<BootTokens>().Find(token);
        Assert.NotNull(issued);
        Assert.Equal($"BOOT_IMAGE=/images/{manifest.Kernel} console=ttyS0 quiet kldload.server={server} kldload.token={token}", issued!.LoadOptions);
        var node = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes/52:54:00:19:00:01", UriKind.Relative));
        Assert.Equal("live/1", node.GetProperty("lastBootedImage").GetString()!.Replace(' ', '/'));
    }

    [Fact]
    public async Task NodeCfg_NoImage_SaysWhyAndReadsItAgain()
    {
        var cfg = await _host.Http.GetStringAsync(new Uri("/tftp/grub/node/52:54:00:19:00:02.cfg", UriKind.Relative));
        Assert.Contains("has no image to boot", cfg, StringComparison.Ordinal);
        Assert.Contains("sleep 60\n", cfg, StringComparison.Ordinal);
        Assert.EndsWith("configfile \"$prefix/node/52:54:00:19:00:02.cfg\"\n", cfg, StringComparison.Ordinal);
        Assert.DoesNotContain("linux ", cfg, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/tftp/grub/node/not-a-mac.cfg")]
    [InlineData("/tftp/grub/node/52:54:00:19:00:0g.cfg")]
    [InlineData("/tftp/images/0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("/tftp/images/..%2f..%2fadmin.token")]
    [InlineData("/tftp/grub/x86_64-efi/http.mod")]
    public async Task GrubPath_BadNames_NotServedAndRecordNothing(string path)
    {
        var r = await _host.Http.GetAsync(new Uri(path, UriKind.Relative));
        Assert.True(r.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Forbidden, $"{path}: {r.StatusCode}");
        var nodes = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes", UriKind.Relative));
        Assert.Equal(0, nodes.GetArrayLength());
    }

    [Fact]
    public async Task ProfileLoader_OverridesBootLoaderForTheNodesItMatches()
    {
        var choice = _host.Service<BootLoaderChoice>();
        // Recorded first: profiles match recorded nodes.
        await _host.Http.GetStringAsync(new Uri("/tftp/grub/node/52:54:00:19:00:03.cfg", UriKind.Relative));
        Assert.Equal(BootLoaderKind.Grub, choice.For("52:54:00:19:00:03"));

        var put = await _host.Admin.PutAsJsonAsync(new Uri("/api/v1/profiles/unsigned", UriKind.Relative),
            JsonDocument.Parse("""{ "match": { "macs": ["52:54:00:19:00:03"] }, "loader": "Ipxe" }""").RootElement);
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());

        Assert.Equal(BootLoaderKind.Ipxe, choice.For("52-54-00-19-00-03"));
        Assert.Equal(BootLoaderKind.Grub, choice.For("52:54:00:19:00:04"));
        Assert.Equal(BootLoaderKind.Ipxe, _host.Service<IProfileStore>().List().Single(p => p.Name == "unsigned").Loader);
    }

    [Fact]
    public async Task PutProfile_UnknownLoader_IsRefused()
    {
        var put = await _host.Admin.PutAsJsonAsync(new Uri("/api/v1/profiles/bad", UriKind.Relative),
            JsonDocument.Parse("""{ "match": { "macs": ["52:54:00:19:00:05"] }, "loader": "pxelinux" }""").RootElement);
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.DoesNotContain(_host.Service<IProfileStore>().List(), p => p.Name == "bad");
    }
}
