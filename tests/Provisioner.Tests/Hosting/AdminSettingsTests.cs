using System.Security.Cryptography.X509Certificates;
using Kldload.Provisioner.Hosting;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Tests.Hosting;

/// <summary>The <c>Admin</c> section: listen URLs, certificate pair, known-servers file.</summary>
public sealed class AdminSettingsTests : IDisposable
{
    private readonly SettingsUnderTest _settings = new();

    public void Dispose() => _settings.Dispose();

    private KldloadConfiguration Load(out IReadOnlyList<SettingError> errors, params string[] overrides) => _settings.Load(out errors, overrides);

    [Fact]
    public void Load_ShippedAppSettings_LeavesTheAdminSurfaceOnTheListenUrls()
    {
        var config = Load(out var errors);
        Assert.Empty(errors);
        Assert.False(config.Admin.Separate);
        Assert.Null(config.Admin.CertificateFile);
        Assert.Equal(Path.Combine(_settings.DataDir, "admin-tls"), config.Admin.GeneratedDirectory);
        Assert.EndsWith(Path.Combine("kldload", "known_servers"), config.Admin.KnownServersFile, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_HttpsUrlsOfAddresses_Bind()
    {
        var config = Load(out var errors, "--Admin:Urls=https://127.0.0.1:8443,https://[::1]:8443;https://localhost:9443");
        Assert.Empty(errors);
        Assert.Equal(["127.0.0.1", "[::1]", "localhost"], config.Admin.Urls.Select(u => u.Host));
        Assert.True(config.Admin.Separate);

        config = Load(out errors, "--Admin:Urls:0=https://10.0.0.1:8443", "--Admin:Urls:1=https://0.0.0.0:0");
        Assert.Empty(errors);
        Assert.Equal([8443, 0], config.Admin.Urls.Select(u => u.Port));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8443", "TLS only")]
    [InlineData("https://kldload.example:8443", "is a name")]
    [InlineData("https://127.0.0.1", "no port given")]
    [InlineData("https://127.0.0.1:8443/admin", "no path")]
    [InlineData("https://localhost:0", "localhost needs a fixed port")]
    [InlineData("127.0.0.1:8443", "allowed: https://ADDRESS:PORT")]
    public void Load_BadAdminUrl_NamesTheKeyAndWhy(string url, string why)
    {
        Load(out var errors, $"--Admin:Urls={url}");
        var error = Assert.Single(errors);
        Assert.Equal("Admin:Urls", error.Key);
        Assert.Equal(url, error.Value);
        Assert.Contains(why, error.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_AdminUrlOnAListenUrl_IsRefused()
    {
        Load(out var errors, "--urls=http://127.0.0.1:8080", "--Admin:Urls=https://127.0.0.1:8080");
        Assert.Contains("listener of its own", Assert.Single(errors).Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_CertificateProblems_AreAllListedAtOnce()
    {
        var cert = Path.Combine(_settings.DataDir, "admin.crt");
        using (var generated = AdminCertificate.Generate([], DateTimeOffset.UtcNow))
        {
            File.WriteAllText(cert, generated.ExportCertificatePem());
        }

        // The key file is missing, and the URL is plain HTTP: both reported in one pass.
        var missing = Path.Combine(_settings.DataDir, "admin.key");
        Load(out var errors, "--Admin:Urls=http://127.0.0.1:8443", $"--Admin:CertificateFile={cert}", $"--Admin:CertificateKeyFile={missing}");
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.Key == "Admin:Urls");
        Assert.Contains(errors, e => e.Key == "Admin:CertificateKeyFile" && e.Value == missing && e.Problem.Contains("no such file", StringComparison.Ordinal));

        // A certificate without its key.
        Load(out errors, $"--Admin:CertificateFile={cert}");
        Assert.Equal("Admin:CertificateKeyFile", Assert.Single(errors).Key);

        // A key that is not the certificate's.
        using var other = AdminCertificate.Generate([], DateTimeOffset.UtcNow);
        File.WriteAllText(missing, other.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        Load(out errors, $"--Admin:CertificateFile={cert}", $"--Admin:CertificateKeyFile={missing}");
        Assert.Equal("Admin:CertificateKeyFile", Assert.Single(errors).Key);

        // A misspelt key under Admin is unknown, like under every section.
        Load(out errors, "--Admin:Url=https://127.0.0.1:8443");
        Assert.Equal("Admin:Url", Assert.Single(errors).Key);
    }
}
