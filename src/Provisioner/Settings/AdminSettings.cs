using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Kldload.Provisioner.Settings;

/// <summary>
/// The <c>Admin</c> section: where operators reach kldload (issue 23). With <c>Admin:Urls</c> set, the
/// admin API, the dashboard and <c>/metrics</c> answer only on those HTTPS listeners and the
/// <c>--urls</c> listeners serve only what nodes need; unset, everything stays on <c>--urls</c> over
/// plain HTTP as before. One entry may name the hub's mesh addresses (<see cref="MeshHubHost"/>), which
/// exist only while the mesh is on. <c>Admin:KnownServersFile</c> is the CLI's side: the certificates it pinned.
/// </summary>
public sealed record AdminSettings
{
    /// <summary>
    /// The host that names the hub's mesh addresses in <c>Admin:Urls</c> (<c>https://mesh-hub:8443</c>):
    /// kldload listens there on the hub's IPv6 address and, with <c>Mesh:Cidr4</c>, its IPv4 one, when
    /// the mesh is on. A name, not an address, since the addresses are the mesh's (generated or
    /// <c>Mesh:Prefix6</c>); any other name is refused in <c>Admin:Urls</c>, so this one cannot be
    /// mistaken for a DNS name.
    /// </summary>
    public const string MeshHubHost = "mesh-hub";

    /// <summary><c>Admin:Urls</c>: HTTPS listen URLs of the admin surface (IP literal or <c>localhost</c>, explicit port); empty = off.</summary>
    public IReadOnlyList<Uri> Urls { get; init; } = [];

    /// <summary>
    /// The port of the <c>https://mesh-hub:PORT</c> entry of <c>Admin:Urls</c>: the admin surface also
    /// listens on the hub's mesh addresses on it while <c>Mesh:Enabled</c>; null when there is none.
    /// </summary>
    public int? MeshHubPort { get; init; }

    /// <summary>True when the admin surface has listeners of its own.</summary>
    public bool Separate => Urls.Count > 0;

    /// <summary><c>Admin:CertificateFile</c>: PEM certificate (chain) served on the admin listeners; null = generated.</summary>
    public string? CertificateFile { get; init; }

    /// <summary><c>Admin:CertificateKeyFile</c>: the PEM private key of <see cref="CertificateFile"/>.</summary>
    public string? CertificateKeyFile { get; init; }

    /// <summary>Where the self-signed certificate is generated on first start when none is configured: <c>{DataDir}/admin-tls</c>.</summary>
    public required string GeneratedDirectory { get; init; }

    /// <summary>
    /// <c>Admin:KnownServersFile</c>: the CLI's pinned server certificates (trust on first use). Default
    /// <c>$XDG_CONFIG_HOME/kldload/known_servers</c>, else <c>~/.config/kldload/known_servers</c>.
    /// </summary>
    public required string KnownServersFile { get; init; }

    internal static AdminSettings Read(SettingsReader r, KldloadSettings kldload)
    {
        var urls = new List<Uri>();
        int? meshHubPort = null;
        foreach (var text in r.StringList("Admin:Urls").SelectMany(t => t.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (Uri.TryCreate(text, UriKind.Absolute, out var named) && string.Equals(named.Host, MeshHubHost, StringComparison.OrdinalIgnoreCase))
            {
                if (ParseMeshHub(text, named, out var hubProblem) is not { } port)
                {
                    r.AddError("Admin:Urls", text, hubProblem);
                }
                else if (meshHubPort is not null)
                {
                    r.AddError("Admin:Urls", text, $"{MeshHubHost} is named twice; allowed: one https://{MeshHubHost}:PORT entry");
                }
                else
                {
                    meshHubPort = port;
                }
            }
            else if (ParseUrl(text, out var problem) is { } url)
            {
                urls.Add(url);
            }
            else
            {
                r.AddError("Admin:Urls", text, problem);
            }
        }

        if (meshHubPort is not null && urls.Count == 0)
        {
            // With the mesh off (or before the hub is up) the admin surface would have no listener at all.
            r.AddError("Admin:Urls", $"https://{MeshHubHost}:{meshHubPort}",
                $"{MeshHubHost} is served only while the mesh is on: list an address beside it, for example https://127.0.0.1:8443");
        }

        var certificate = r.OptionalString("Admin:CertificateFile") is { } c ? Path.GetFullPath(c) : null;
        var key = r.OptionalString("Admin:CertificateKeyFile") is { } k ? Path.GetFullPath(k) : null;
        if (certificate is null != key is null)
        {
            r.AddError(certificate is null ? "Admin:CertificateFile" : "Admin:CertificateKeyFile", null,
                "required with " + (certificate is null ? "Admin:CertificateKeyFile" : "Admin:CertificateFile") + ": give both (PEM certificate and its private key), or neither to have a self-signed certificate generated");
        }
        else if (certificate is not null && key is not null)
        {
            CheckPair(r, certificate, key);
        }

        var known = r.OptionalString("Admin:KnownServersFile") is { } f ? Path.GetFullPath(f) : DefaultKnownServersFile();
        return new AdminSettings
        {
            Urls = urls,
            MeshHubPort = meshHubPort,
            CertificateFile = certificate,
            CertificateKeyFile = key,
            GeneratedDirectory = Path.Combine(kldload.DataDir, "admin-tls"),
            KnownServersFile = known,
        };
    }

    /// <summary>
    /// One admin URL: <c>https</c>, a host that is an IP literal or <c>localhost</c> (a listener binds
    /// addresses, not names), an explicit port (0 = any free port, not with localhost), nothing else.
    /// </summary>
    internal static Uri? ParseUrl(string text, out string problem)
    {
        const string allowed = "allowed: https://ADDRESS:PORT with an IP address or localhost, for example https://127.0.0.1:8443";
        problem = allowed;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            return null;
        }

        if (uri.Scheme != Uri.UriSchemeHttps)
        {
            problem = $"the admin surface is served over TLS only; {allowed}";
            return null;
        }

        var isLocalhost = string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase);
        if (!isLocalhost && !IPAddress.TryParse(uri.Host.Trim('[', ']'), out _))
        {
            problem = $"'{uri.Host}' is a name; {allowed}";
            return null;
        }

        if (!HasExplicitPort(text))
        {
            problem = $"no port given; {allowed}";
            return null;
        }

        if (isLocalhost && uri.Port == 0)
        {
            problem = "localhost needs a fixed port (it binds 127.0.0.1 and ::1); use https://127.0.0.1:0 for any free port";
            return null;
        }

        if (uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            problem = $"a listener has no path, query or user; {allowed}";
            return null;
        }

        return uri;
    }

    /// <summary>The <c>https://mesh-hub:PORT</c> entry: https, a fixed port (nodes and operators must know it), nothing else.</summary>
    private static int? ParseMeshHub(string text, Uri uri, out string problem)
    {
        problem = $"allowed: https://{MeshHubHost}:PORT with a fixed port, for example https://{MeshHubHost}:8443 (the hub's mesh addresses, while the mesh is on)";
        if (uri.Scheme != Uri.UriSchemeHttps || !HasExplicitPort(text) || uri.Port == 0)
        {
            return null;
        }

        if (uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            return null;
        }

        return uri.Port;
    }

    /// <summary>
    /// A certificate's fingerprint as the server logs it and the CLI pins it: SHA-256 of the DER
    /// encoding, 64 upper-case hex digits (the form <c>--fingerprint</c> takes for a Redfish BMC).
    /// </summary>
    public static string Fingerprint(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexString(SHA256.HashData(certificate.GetRawCertData()));
    }

    /// <summary>The default known-servers file, as SSH keeps <c>~/.ssh/known_hosts</c> per user.</summary>
    public static string DefaultKnownServersFile()
    {
        var config = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        if (string.IsNullOrEmpty(config) || !Path.IsPathRooted(config))
        {
            config = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
        }

        return Path.Combine(config, "kldload", "known_servers");
    }

    private static bool HasExplicitPort(string text)
    {
        var authority = text[(text.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var end = authority.IndexOfAny(['/', '?', '#']);
        authority = end < 0 ? authority : authority[..end];
        var colon = authority.LastIndexOf(':');
        return colon > authority.LastIndexOf(']') && colon < authority.Length - 1;
    }

    private static void CheckPair(SettingsReader r, string certificate, string key)
    {
        foreach (var (name, path) in new[] { ("Admin:CertificateFile", certificate), ("Admin:CertificateKeyFile", key) })
        {
            if (!File.Exists(path))
            {
                r.AddError(name, path, "no such file; allowed: a readable PEM file");
                return;
            }
        }

        try
        {
            using var pair = X509Certificate2.CreateFromPemFile(certificate, key);
            if (!pair.HasPrivateKey)
            {
                r.AddError("Admin:CertificateKeyFile", key, "holds no private key for Admin:CertificateFile");
            }
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            r.AddError("Admin:CertificateKeyFile", key, $"cannot be read with Admin:CertificateFile as a PEM certificate and its private key: {e.Message.TrimEnd('.')}");
        }
    }
}
