using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Hosting;

/// <summary>
/// The certificate of the admin listeners: <c>Admin:CertificateFile</c> with its key when configured,
/// else a self-signed ECDSA P-256 certificate generated on first start into <c>{DataDir}/admin-tls/</c>
/// (<c>cert.pem</c>, <c>key.pem</c>; directory 0700, files 0600) and reused on every start after, so
/// the fingerprint a CLI pinned stays valid. Delete the directory to have a new one made.
/// </summary>
public static class AdminCertificate
{
    public const string CertificateFileName = "cert.pem";

    public const string KeyFileName = "key.pem";

    /// <summary>How long a generated certificate is valid: the CLI pins it, so a short life would only break pins.</summary>
    public static readonly TimeSpan GeneratedLifetime = TimeSpan.FromDays(10 * 365);

    /// <summary>The certificate, and where it came from (for the start-up log line).</summary>
    public static (X509Certificate2 Certificate, string Source) LoadOrCreate(AdminSettings settings, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(time);
        var dir = settings.GeneratedDirectory;
        var certPath = Path.Combine(dir, CertificateFileName);
        var keyPath = Path.Combine(dir, KeyFileName);
        try
        {
            if (settings.CertificateFile is { } file && settings.CertificateKeyFile is { } key)
            {
                return (X509Certificate2.CreateFromPemFile(file, key), file);
            }

            if (File.Exists(certPath) && File.Exists(keyPath))
            {
                return (X509Certificate2.CreateFromPemFile(certPath, keyPath), certPath);
            }

            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var certificate = Generate(settings.Urls, time.GetUtcNow());
            // The key first: a certificate file without its key would be read as a broken pair.
            WritePrivate(keyPath, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            WritePrivate(certPath, certificate.ExportCertificatePem());
            return (certificate, certPath + " (generated)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new SettingBindException("Admin:Urls", string.Join(";", settings.Urls.Select(u => u.OriginalString)),
                settings.CertificateFile is null
                    ? $"cannot read or generate the admin certificate in {dir} ({e.Message.TrimEnd('.')}); set Admin:CertificateFile and Admin:CertificateKeyFile, or delete the directory to have a new one generated"
                    : $"cannot read Admin:CertificateFile {settings.CertificateFile} with Admin:CertificateKeyFile {settings.CertificateKeyFile} ({e.Message.TrimEnd('.')})", e);
        }
    }

    /// <summary>
    /// A self-signed server certificate for the admin listeners: ECDSA P-256, subject <c>CN=kldload
    /// admin</c>, subject alternative names the hosts of <paramref name="urls"/> and <c>localhost</c>.
    /// </summary>
    public static X509Certificate2 Generate(IEnumerable<Uri> urls, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(urls);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=kldload admin", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        foreach (var host in urls.Select(u => u.Host.Trim('[', ']')).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (IPAddress.TryParse(host, out var address))
            {
                names.AddIpAddress(address);
            }
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        // An hour back: a client whose clock runs a little behind must not see "not yet valid".
        return request.CreateSelfSigned(now.AddHours(-1), now.Add(GeneratedLifetime));
    }

    private static void WritePrivate(string path, string pem)
    {
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            stream.Write(System.Text.Encoding.ASCII.GetBytes(pem + "\n"));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
