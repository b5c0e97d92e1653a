using Kldload.Dhcp.LoadBalancing;

namespace Kldload.Provisioner.Settings;

/// <summary>
/// Every setting kldload reads, bound and validated in one pass. Sources, later overriding earlier:
/// <c>appsettings.json</c> next to the binary (or the package's <c>/etc/kldload/appsettings.json</c>), <c>ASPNETCORE_*</c> and <c>KLDLOAD_*</c> environment
/// variables (<c>__</c> for <c>:</c>), then <c>--Section:Key=value</c> arguments.
/// </summary>
public sealed record KldloadConfiguration
{
    /// <summary>The sections kldload owns; unknown keys under them are errors.</summary>
    public static readonly IReadOnlyList<string> Sections = ["Kldload", "Tftp", "Dhcp", "Dhcp6", "Boot", "Attestation", "Mesh", "Auth", "Images", "Backup", "Limits", "Inventory", "Install", "Database", "Admin"];

    /// <summary>
    /// Top-level names that belong to ASP.NET Core's host, Kestrel and the logging libraries (and the
    /// <c>ASPNETCORE_</c> variables the runtime's container images set); any other unknown top-level
    /// name is an error, since a misspelt section would otherwise be ignored without a word.
    /// </summary>
    public static readonly IReadOnlyList<string> ForeignSections =
    [
        "Logging", "Serilog", "Kestrel", "AllowedHosts", "ConnectionStrings", "Environment", "ContentRoot", "WebRoot",
        "ApplicationName", "Http_Ports", "Https_Ports", "HostingStartupAssemblies", "HostingStartupExcludeAssemblies",
        "PreventHostingStartup", "DetailedErrors", "SuppressStatusMessages", "ShutdownTimeoutSeconds", "CaptureStartupErrors",
        "ForwardedHeaders_Enabled", "HostFilteringOptions",
    ];

    public required IConfigurationRoot Root { get; init; }

    public required KldloadSettings Kldload { get; init; }

    public required TftpSettings Tftp { get; init; }

    public required DhcpSettings Dhcp { get; init; }

    public required Dhcp6Settings Dhcp6 { get; init; }

    public required BootSettings Boot { get; init; }

    public required AttestationSettings Attestation { get; init; }

    public required MeshSettings Mesh { get; init; }

    public required AuthSettings Auth { get; init; }

    public required ImagesSettings Images { get; init; }

    public required BackupSettings Backup { get; init; }

    public required LimitsSettings Limits { get; init; }

    public required InventorySettings Inventory { get; init; }

    public required InstallSettings Install { get; init; }

    public required DatabaseSettings Database { get; init; }

    public required AdminSettings Admin { get; init; }

    /// <summary>The HTTP listen URLs (<c>--urls</c> / <c>ASPNETCORE_URLS</c>), default <c>http://0.0.0.0:8080</c>.</summary>
    public required IReadOnlyList<Uri> Urls { get; init; }

    /// <summary>
    /// The port nodes dial on the hub's mesh address: the port of <c>Kldload:ServerUrl</c>, or of the
    /// first listen URL when it is not set (the agent takes it from the server URL on its command line).
    /// </summary>
    public int MeshHttpPort => Kldload.ServerUrl?.Port ?? (Urls.Count > 0 ? Urls[0].Port : 8080);

    /// <summary>Where the Debian package installs the settings file (a conffile).</summary>
    public const string PackageSettingsFile = "/etc/kldload/appsettings.json";

    /// <summary>
    /// <c>appsettings.json</c> next to the binary (a source checkout or a tarball), else the package's
    /// <see cref="PackageSettingsFile"/>: <c>/usr/bin</c> holds no settings file.
    /// </summary>
    public static string DefaultSettingsFile()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        return File.Exists(beside) || !File.Exists(PackageSettingsFile) ? beside : PackageSettingsFile;
    }

    /// <summary>Builds the configuration from its standard sources.</summary>
    public static IConfigurationRoot BuildRoot(IEnumerable<string> overrides, string? appSettingsPath = null)
    {
        appSettingsPath ??= DefaultSettingsFile();
        return new ConfigurationBuilder()
            .AddJsonFile(appSettingsPath, optional: true, reloadOnChange: false)
            .AddEnvironmentVariables("ASPNETCORE_")
            .AddEnvironmentVariables("KLDLOAD_")
            .AddCommandLine(overrides.ToArray())
            .Build();
    }

    /// <summary>Reads and validates every section; <paramref name="errors"/> lists every problem found.</summary>
    public static KldloadConfiguration Load(IConfigurationRoot root, out IReadOnlyList<SettingError> errors, bool requireWritableDataDir = true)
    {
        var r = new SettingsReader(root);
        var kldload = KldloadSettings.Read(r);
        var config = new KldloadConfiguration
        {
            Root = root,
            Kldload = kldload,
            Tftp = TftpSettings.Read(r),
            Dhcp = DhcpSettings.Read(r),
            Dhcp6 = Dhcp6Settings.Read(r),
            Boot = BootSettings.Read(r),
            Attestation = AttestationSettings.Read(r),
            Mesh = MeshSettings.Read(r, kldload),
            Auth = AuthSettings.Read(r, kldload),
            Images = ImagesSettings.Read(r, kldload),
            Backup = BackupSettings.Read(r),
            Limits = LimitsSettings.Read(r),
            Inventory = InventorySettings.Read(r),
            Install = InstallSettings.Read(r),
            Database = DatabaseSettings.Read(r),
            Admin = AdminSettings.Read(r, kldload),
            Urls = ReadUrls(r),
        };

        foreach (var clash in config.Admin.Urls.Where(a => a.Port != 0 && config.Urls.Any(u => u.Port == a.Port && string.Equals(u.Host, a.Host, StringComparison.OrdinalIgnoreCase))))
        {
            // Kestrel would fail to bind the second; say which setting to change instead.
            r.AddError("Admin:Urls", clash.OriginalString, "the same address and port as a --urls listener; the admin surface needs a listener of its own (another port)");
        }

        if (config.Mesh.Enabled && config.MeshHttpPort == 0)
        {
            // The mesh listener is bound with the others, before port 0 has become a port.
            r.AddError("urls", string.Join(";", config.Urls.Select(u => u.OriginalString)),
                "with Mesh:Enabled=true the first URL needs a fixed port (nodes reach kldload on the hub's mesh address at that port), or set Kldload:ServerUrl");
        }

        if (config.Dhcp.LoadBalancing != DhcpLoadBalancingRole.None && config.Database.Provider != DatabaseProvider.PostgreSql)
        {
            // The pair shares its leases and heartbeats through one database.
            r.AddError("Dhcp:LoadBalancing", config.Dhcp.LoadBalancing.ToString(),
                $"allowed: None with Database:Provider {config.Database.Provider} (load balancing needs Database:Provider PostgreSql, shared by both servers)");
        }

        r.ReportUnknownKeys(Sections);
        r.ReportUnknownSections(Sections, ForeignSections);
        if (requireWritableDataDir)
        {
            CheckDataDir(r, kldload.DataDir);
        }

        errors = r.Errors;
        return config;
    }

    private static List<Uri> ReadUrls(SettingsReader r)
    {
        var raw = r.Raw("urls") ?? "http://0.0.0.0:8080";
        var urls = new List<Uri>();
        foreach (var text in raw.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // Kestrel accepts '*' and '+' as "any address"; Uri does not, so normalise for checking.
            var normalised = text.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
            if (Uri.TryCreate(normalised, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            {
                urls.Add(uri);
            }
            else
            {
                r.AddError("urls", text, "allowed: http://ADDRESS:PORT (set with --urls or ASPNETCORE_URLS), for example http://0.0.0.0:8080");
            }
        }

        return urls;
    }

    private static void CheckDataDir(SettingsReader r, string dataDir)
    {
        try
        {
            Directory.CreateDirectory(dataDir);
            var probe = Path.Combine(dataDir, $".write-probe-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            r.AddError("Kldload:DataDir", dataDir, $"cannot be created or written ({e.Message.TrimEnd('.')}); allowed: a writable directory");
        }
    }
}
