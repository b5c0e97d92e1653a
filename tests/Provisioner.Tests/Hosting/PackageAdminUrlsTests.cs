using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using Kldload.MeshCA.Addressing;
using Kldload.Provisioner.Hosting;
using Kldload.Provisioner.Settings;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Kldload.Provisioner.Tests.Hosting;

/// <summary>
/// The Debian package's settings file (<c>packaging/deb/appsettings.sed</c> applied to the
/// repository's <c>appsettings.json</c>, as <c>make deb</c> does) sets <c>Admin:Urls</c> to loopback
/// and <c>https://mesh-hub:8443</c>: the real host started with that file answers the admin API over
/// TLS on loopback, and on the hub's mesh address when the mesh is on, and the boot LAN listener
/// answers admin routes 404. The file's ports are moved to free ones for the run; nothing else changes.
/// </summary>
public sealed class PackageAdminUrlsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-pkgadmin-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task PackagedSettings_AdminUrls_LoopbackAndMeshHubAt8443()
    {
        var file = await PackagedSettingsAsync(null, null);
        var config = Load(file);
        Assert.Equal([new Uri("https://127.0.0.1:8443")], config.Admin.Urls);
        Assert.Equal(8443, config.Admin.MeshHubPort);
    }

    [Fact]
    public void Settings_MeshHubAloneTwiceOrWithoutFixedPort_EveryProblemListed()
    {
        var errors = Errors("--Admin:Urls:0=https://mesh-hub:8443");
        Assert.Contains(errors, e => e.Key == "Admin:Urls" && e.ToString().Contains("list an address beside it", StringComparison.Ordinal));

        errors = Errors("--Admin:Urls:0=https://127.0.0.1:8443", "--Admin:Urls:1=https://mesh-hub:8443", "--Admin:Urls:2=https://mesh-hub:9443",
            "--Admin:Urls:3=https://mesh-hub:0", "--Admin:Urls:4=http://mesh-hub:8443", "--Admin:Urls:5=https://mesh-hub");
        Assert.Equal(4, errors.Count(e => e.Key == "Admin:Urls"));
        Assert.Contains(errors, e => e.ToString().Contains("mesh-hub is named twice", StringComparison.Ordinal));
        Assert.Equal(3, errors.Count(e => e.ToString().Contains("allowed: https://mesh-hub:PORT with a fixed port", StringComparison.Ordinal)));
    }

    [Fact]
    [Trait("Tier", "Integration")]
    public async Task Serve_PackagedSettingsMeshOff_AdminOnLoopbackTlsOnlyAndBootLanRefusesAdminRoutes()
    {
        var (admin, hub) = (FreeTcpPort(), FreeTcpPort());
        var file = await PackagedSettingsAsync(admin, hub);
        var app = KldloadHost.Build(Load(file));
        await app.StartAsync();
        try
        {
            var listeners = app.Services.GetRequiredService<AdminListeners>();
            Assert.Null(listeners.MeshHubPort);
            Assert.Equal([new Uri($"https://127.0.0.1:{admin}")], listeners.BoundUrls);
            await AssertSurfacesAsync(app, new Uri($"https://127.0.0.1:{admin}"));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    [Trait("Tier", "Peer")]
    public async Task Serve_PackagedSettingsMeshOn_AdminAlsoOnTheHubMeshAddress()
    {
        var (admin, hub) = (FreeTcpPort(), FreeTcpPort());
        var file = await PackagedSettingsAsync(admin, hub);
        var prefix = RandomNumberGenerator.GetBytes(8);
        prefix[0] = 0xFD;
        var app = KldloadHost.Build(Load(file,
            $"--urls=http://127.0.0.1:{FreeTcpPort()}", // the nodes' mesh listener needs a fixed port
            "--Mesh:Enabled=true",
            "--Mesh:Forwarding=false", // the host's own network namespace: its sysctls stay as they are
            $"--Mesh:Interface=klt{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}",
            $"--Mesh:ListenPort={FreeUdpPort()}",
            $"--Mesh:Prefix6={new IPAddress([.. prefix, .. new byte[8]])}/64"));
        await app.StartAsync();
        try
        {
            var hub6 = app.Services.GetRequiredService<MeshAddressAllocator>().HubAddress6;
            var listeners = app.Services.GetRequiredService<AdminListeners>();
            Assert.Equal(hub, listeners.MeshHubPort);
            Assert.Contains(new Uri($"https://[{hub6}]:{hub}"), listeners.BoundUrls);
            await AssertSurfacesAsync(app, new Uri($"https://127.0.0.1:{admin}"));
            await AssertSurfacesAsync(app, new Uri($"https://[{hub6}]:{hub}"));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>
    /// The admin API answers on <paramref name="adminUrl"/> over TLS with the host's certificate (and
    /// not a boot route), and the boot LAN listener serves the boot script but answers admin routes 404.
    /// </summary>
    private async Task AssertSurfacesAsync(WebApplication app, Uri adminUrl)
    {
        var token = (await File.ReadAllTextAsync(Path.Combine(_dir, "var", "admin.token"))).Trim();
        var fingerprint = app.Services.GetRequiredService<AdminListeners>().Fingerprint;
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, _) => certificate is not null && AdminSettings.Fingerprint(certificate) == fingerprint,
        };
        using var tls = new HttpClient(handler) { BaseAddress = adminUrl };
        tls.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await tls.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await tls.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await tls.GetAsync(new Uri("/boot.ipxe?mac=52:54:00:ad:00:01", UriKind.Relative))).StatusCode);

        var bootLan = new Uri(app.Services.GetRequiredService<Kldload.Provisioner.Boot.ServerUrl>().ListenUrls[0]);
        Assert.Equal("http", bootLan.Scheme);
        using var lan = new HttpClient { BaseAddress = bootLan };
        lan.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.NotFound, (await lan.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await lan.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await lan.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
    }

    /// <summary>The package's settings file, made with the package's own sed script; the two 8443 ports moved when given.</summary>
    private async Task<string> PackagedSettingsAsync(int? adminPort, int? hubPort)
    {
        var (code, output) = await PeerProcess.RunAsync(TimeSpan.FromSeconds(20), "sed", "-f",
            Path.Combine(RepositoryPaths.Root, "packaging", "deb", "appsettings.sed"), Path.Combine(RepositoryPaths.Root, "appsettings.json"));
        Assert.True(code == 0, output);
        const string packaged = "\"Urls\": [ \"https://127.0.0.1:8443\", \"https://mesh-hub:8443\" ]";
        Assert.Contains(packaged, output, StringComparison.Ordinal);
        if (adminPort is not null)
        {
            output = output.Replace(packaged, $"\"Urls\": [ \"https://127.0.0.1:{adminPort}\", \"https://mesh-hub:{hubPort}\" ]", StringComparison.Ordinal);
        }

        var file = Path.Combine(_dir, $"appsettings-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, output);
        return file;
    }

    /// <summary>The settings as <c>kldload serve</c> reads them from <paramref name="file"/>, with the data directory and listeners of a test.</summary>
    private KldloadConfiguration Load(string file, params string[] overrides)
    {
        var root = KldloadConfiguration.BuildRoot(
            ["--urls=http://127.0.0.1:0", $"--Kldload:DataDir={Path.Combine(_dir, "var")}", "--Tftp:Enabled=false", .. overrides], file);
        var config = KldloadConfiguration.Load(root, out var errors);
        Assert.True(errors.Count == 0, string.Join("; ", errors));
        return config;
    }

    private IReadOnlyList<SettingError> Errors(params string[] overrides)
    {
        var root = KldloadConfiguration.BuildRoot([$"--Kldload:DataDir={Path.Combine(_dir, "var")}", .. overrides], "/nonexistent.json");
        KldloadConfiguration.Load(root, out var errors);
        return errors;
    }

    private static int FreeTcpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
