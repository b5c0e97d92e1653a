using System.Net;
using System.Security.Cryptography.X509Certificates;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Hosting;
using Kldload.Provisioner.Settings;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Kldload.Provisioner.Tests.Hosting;

/// <summary>
/// The admin surface on listeners of its own (<c>Admin:Urls</c>, issue 23): the real host in process,
/// a boot LAN listener and an admin listener on ephemeral loopback ports, real TLS.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class AdminSurfaceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kladmin-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<TestHost> StartSeparate() => TestHost.StartAsync(_dir, null, "--Admin:Urls=https://127.0.0.1:0");

    /// <summary>A client of the admin listener that accepts exactly the certificate whose fingerprint the host reports.</summary>
    private static HttpClient AdminClientFor(TestHost host, Action<X509Certificate?>? seen = null)
    {
        var listeners = host.Service<AdminListeners>();
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            seen?.Invoke(certificate);
            return certificate is not null && AdminSettings.Fingerprint(certificate) == listeners.Fingerprint;
        };
        var http = new HttpClient(handler) { BaseAddress = listeners.BoundUrls[0] };
        http.DefaultRequestHeaders.Authorization = host.Admin.DefaultRequestHeaders.Authorization;
        return http;
    }

    private static async Task<HttpStatusCode> Status(HttpClient http, string path, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, new Uri(path, UriKind.Relative));
        if (request.Method == HttpMethod.Post)
        {
            request.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
        }

        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task AdminRoutes_OnTheBootListener_Are404()
    {
        await using var host = await StartSeparate();
        Assert.Equal(Uri.UriSchemeHttp, host.Admin.BaseAddress!.Scheme);
        foreach (var path in new[] { "/api/v1/nodes", "/api/v1/tokens", "/api/v1/events", "/dashboard", "/", "/metrics", "/openapi/v1.json" })
        {
            Assert.True(await Status(host.Admin, path) == HttpStatusCode.NotFound, path);
        }

        Assert.Equal(HttpStatusCode.NotFound, await Status(host.Admin, "/api/v1/backup", HttpMethod.Post));
        Assert.Equal(HttpStatusCode.OK, await Status(host.Http, "/healthz"));
        Assert.NotEqual(HttpStatusCode.NotFound, await Status(host.Http, "/boot.ipxe?mac=52:54:00:12:34:56"));
        Assert.NotEqual(HttpStatusCode.NotFound, await Status(host.Http, "/api/v1/attest/challenge", HttpMethod.Post));
    }

    [Fact]
    public async Task AdminListener_ServesTheOperatorOverTls_AndRefusesNodeRoutes()
    {
        await using var host = await StartSeparate();
        X509Certificate? presented = null;
        using var admin = AdminClientFor(host, c => presented = c);
        Assert.Equal(Uri.UriSchemeHttps, admin.BaseAddress!.Scheme);

        Assert.Equal(HttpStatusCode.OK, await Status(admin, "/api/v1/nodes"));
        Assert.Equal(HttpStatusCode.OK, await Status(admin, "/dashboard"));
        Assert.Equal(HttpStatusCode.OK, await Status(admin, "/metrics"));
        Assert.Equal(HttpStatusCode.OK, await Status(admin, "/healthz"));
        Assert.NotNull(presented);

        // The token still decides who may call: TLS is not a credential.
        using var anonymous = AdminClientFor(host);
        anonymous.DefaultRequestHeaders.Authorization = null;
        Assert.Equal(HttpStatusCode.Unauthorized, await Status(anonymous, "/api/v1/nodes"));

        // Node routes live on the boot LAN only: the admin listener answers 404 as if they did not exist.
        Assert.Equal(HttpStatusCode.NotFound, await Status(admin, "/boot.ipxe?mac=52:54:00:12:34:56"));
        Assert.Equal(HttpStatusCode.NotFound, await Status(admin, "/api/v1/attest/challenge", HttpMethod.Post));
        Assert.Equal(HttpStatusCode.NotFound, await Status(admin, "/tftp/undionly.kpxe"));

        // The generated certificate names the listener's address and localhost.
        using var certificate = new X509Certificate2(presented!);
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains(IPAddress.Loopback, names.EnumerateIPAddresses());
        Assert.Contains("localhost", names.EnumerateDnsNames());
        Assert.Equal("ECC", certificate.PublicKey.Oid.FriendlyName);
    }

    [Fact]
    public async Task AdminListener_PlainHttp_IsNotServed()
    {
        await using var host = await StartSeparate();
        var url = host.Service<AdminListeners>().BoundUrls[0];
        using var plain = new HttpClient { BaseAddress = new UriBuilder(url) { Scheme = Uri.UriSchemeHttp, Port = url.Port }.Uri };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync(new Uri("/api/v1/nodes", UriKind.Relative)));
    }

    [Fact]
    public async Task GeneratedCertificate_IsKeptAcrossRestarts()
    {
        string first;
        await using (var host = await StartSeparate())
        {
            first = host.Service<AdminListeners>().Fingerprint;
        }

        var dir = Path.Combine(_dir, "admin-tls");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dir));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, AdminCertificate.KeyFileName)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, AdminCertificate.CertificateFileName)));

        await using (var again = await StartSeparate())
        {
            Assert.Equal(first, again.Service<AdminListeners>().Fingerprint);
            using var admin = AdminClientFor(again);
            Assert.Equal(HttpStatusCode.OK, await Status(admin, "/api/v1/nodes"));
        }
    }

    [Fact]
    public async Task ConfiguredCertificate_IsServedInsteadOfAGeneratedOne()
    {
        using var own = AdminCertificate.Generate([new Uri("https://127.0.0.1:0")], DateTimeOffset.UtcNow);
        var cert = Path.Combine(_dir, "own.crt");
        var key = Path.Combine(_dir, "own.key");
        await File.WriteAllTextAsync(cert, own.ExportCertificatePem());
        await File.WriteAllTextAsync(key, own.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());

        await using var host = await TestHost.StartAsync(_dir, null, "--Admin:Urls=https://127.0.0.1:0", $"--Admin:CertificateFile={cert}", $"--Admin:CertificateKeyFile={key}");
        Assert.Equal(AdminSettings.Fingerprint(own), host.Service<AdminListeners>().Fingerprint);
        Assert.False(Directory.Exists(Path.Combine(_dir, "admin-tls")));
        using var admin = AdminClientFor(host);
        Assert.Equal(HttpStatusCode.OK, await Status(admin, "/api/v1/nodes"));
    }

    [Fact]
    public async Task EveryNodeFacingPattern_NamesAMappedRoute_AndEveryOtherRouteIsTheOperators()
    {
        await using var host = await StartSeparate();
        var routes = host.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        var patterns = routes.Select(r => r.RoutePattern.RawText).ToHashSet(StringComparer.Ordinal);
        foreach (var pattern in AdminSurface.NodeFacing.Keys)
        {
            Assert.True(patterns.Contains(pattern), $"AdminSurface.NodeFacing names {pattern}, which the host does not map");
        }

        foreach (var route in routes)
        {
            var surface = AdminSurface.Of(route);
            if (route.Metadata.GetMetadata<AdminApiRoute>() is not null || route.RoutePattern.RawText is "/dashboard" or "/metrics")
            {
                Assert.True(surface == RouteSurface.Admin, $"{route.RoutePattern.RawText} is an operator's route but classified {surface}");
            }
        }

        Assert.Contains(routes, r => AdminSurface.Of(r) == RouteSurface.Node && r.RoutePattern.RawText == "/api/v1/mesh/watch");
    }

    [Fact]
    public async Task WithoutAdminUrls_EverythingStaysOnTheListenUrlsAsBefore()
    {
        await using var host = await TestHost.StartAsync(_dir);
        Assert.Null(host.App.Services.GetService<AdminListeners>());
        Assert.Equal(HttpStatusCode.OK, await Status(host.Admin, "/api/v1/nodes"));
        Assert.Equal(HttpStatusCode.OK, await Status(host.Admin, "/dashboard"));
        Assert.Equal(HttpStatusCode.OK, await Status(host.Admin, "/metrics"));
        Assert.NotEqual(HttpStatusCode.NotFound, await Status(host.Http, "/boot.ipxe?mac=52:54:00:12:34:56"));
        Assert.False(Directory.Exists(Path.Combine(_dir, "admin-tls")));
        Assert.Equal(host.Admin.BaseAddress, new Uri(File.ReadAllText(Path.Combine(_dir, "kldload.url")).Trim()));
    }

    [Fact]
    public async Task WithAdminUrls_TheDataDirectoryPublishesTheAdminListener()
    {
        await using var host = await StartSeparate();
        var published = new Uri(File.ReadAllText(Path.Combine(_dir, "kldload.url")).Trim());
        Assert.Equal(host.Service<AdminListeners>().BoundUrls[0], published);
        Assert.NotEqual(0, published.Port);
    }
}
