using System.Net;
using System.Net.Sockets;
using System.Text.Json.Serialization;
using Kldload.ImageStore;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Attestation;
using Kldload.Provisioner.Backup;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Cli;
using Kldload.Provisioner.Dashboard;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Leases;
using Kldload.Provisioner.Listeners;
using Kldload.Provisioner.Mesh;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Prometheus;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Kldload.Provisioner.Hosting;

/// <summary>
/// Builds and runs the <c>kldload serve</c> web host: Serilog, the database, the listeners, health,
/// readiness and metrics endpoints. A thin shell over the component libraries.
/// </summary>
public static partial class KldloadHost
{
    /// <summary>Builds the application from validated settings. The database is opened here.</summary>
    public static WebApplication Build(KldloadConfiguration config, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = "kldload",
        });

        builder.Configuration.Sources.Clear();
        builder.Configuration.AddConfiguration(config.Root);
        // Where --urls says, and on the hub's mesh addresses for the node-facing mesh routes. Kestrel
        // binds explicit listeners only; the urls setting is emptied so that it does not warn that
        // they override it (they bind the same URLs).
        builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, string.Empty);
        builder.WebHost.ConfigureKestrel(kestrel => MeshHttpListener.Listen(kestrel, config.Urls, MeshListenEndpoints(config, kestrel.ApplicationServices)));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = config.Kldload.ShutdownTimeout);
        // Under systemd (Type=notify): READY=1 once every hosted service has started, STOPPING=1 on
        // the way down, and journald-friendly console output. Outside systemd this does nothing.
        builder.Host.UseSystemd();

        var serilog = CreateLogger(config.Kldload);
        builder.Services.AddSerilog(serilog);

        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(config.Kldload);
        builder.Services.AddSingleton(config.Tftp);
        builder.Services.AddSingleton(config.Dhcp);
        builder.Services.AddSingleton(config.Boot);
        builder.Services.AddSingleton(config.Attestation);
        builder.Services.AddSingleton(config.Mesh);
        builder.Services.AddSingleton(config.Auth);
        builder.Services.AddSingleton(config.Backup);
        builder.Services.AddSingleton(config.Limits);
        builder.Services.AddSingleton(config.Inventory);
        builder.Services.AddSingleton(config.Install);
        builder.Services.AddSingleton(config.Admin);
        builder.Services.AddSingleton(TimeProvider.System);

        var dataLock = DataDirectoryLock.TryAcquire(config.Kldload.DataDir)
            ?? throw new SettingBindException("Kldload:DataDir", config.Kldload.DataDir,
                "another kldload process is using this data directory (it holds kldload.lock): a server, or an image or offline backup command still running");
        IDisposable db;
        AdminListeners? adminListeners;
        try
        {
            // Admin:Urls: the operator's surface on listeners of its own, over TLS (AdminSurface); the
            // certificate is generated under the data directory's lock, so by one process only.
            adminListeners = builder.AddAdminSurface(config);
            db = builder.AddStorage(config);
        }
        catch
        {
            dataLock.Dispose();
            throw;
        }

        builder.Services.AddSingleton<IReadinessCheck, DatabaseReadiness>();
        builder.Services.AddSingleton<ServerUrl>();
        AddProvisioner(builder, config);

        builder.AddTftpListener(config);
        builder.Services.TryAddSingleton(BootLoaderFiles.Disabled);
        builder.AddDhcpListener(config);
        builder.AddDhcp6Listener(config);
        builder.AddImageStore(config);
        builder.AddMesh(config);

        configure?.Invoke(builder);

        var app = builder.Build();
        app.Lifetime.ApplicationStopped.Register(db.Dispose);
        app.Lifetime.ApplicationStopped.Register(dataLock.Dispose);
        // CLI commands on this data directory find the admin API here (the bound port, not the setting).
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            if ((adminListeners?.Local ?? app.Services.GetRequiredService<ServerUrl>().Local) is { } local)
            {
                dataLock.PublishUrl(local);
            }
        });

        // An unexpected exception is logged in full; the client gets problem+json naming only the
        // exception type and the trace id to look for in the log (no messages, paths or stack).
        app.UseExceptionHandler(errors => errors.Run(async context =>
        {
            var failure = context.Features.Get<Microsoft.AspNetCore.Diagnostics.IExceptionHandlerFeature>()?.Error;
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            await Results.Problem(
                title: "internal error",
                detail: $"{failure?.GetType().Name ?? "error"} while handling {context.Request.Method} {context.Request.Path}; trace id {context.TraceIdentifier} in the server log",
                statusCode: StatusCodes.Status500InternalServerError).ExecuteAsync(context).ConfigureAwait(false);
        }));
        app.UseSerilogRequestLogging(o =>
        {
            o.Logger = serilog;
            // Path only: query strings and headers (bearer tokens) are never logged.
            o.MessageTemplate = "HTTP {RequestMethod} {RequestPath} -> {StatusCode} in {Elapsed:0.0} ms";
        });
        app.UseRouting();
        app.UseMeshListenerFilter();
        app.UseAdminSurface(adminListeners);
        app.UseHttpMetrics();
        app.UseRateLimiter();
        app.UseOperatorTokens();
        app.UseScrapeTimeMetrics("/metrics");
        MapHealth(app);
        app.MapMetrics("/metrics");
        app.MapImageEndpoints();
        app.MapBootEndpoints();
        app.MapLoaderEndpoints();
        app.MapDashboard();
        app.MapAttestationEndpoints();
        app.MapControlChannelEndpoints();
        app.MapOpenApi("/openapi/{documentName}.json");
        var admin = app.MapGroup("/api/v1").RequireOperatorToken().WithTags("admin");
        admin.MapNodeEndpoints();
        admin.MapPowerEndpoints();
        admin.MapRolloutEndpoints();
        admin.MapLeaseEndpoints();
        admin.MapLease6Endpoints();
        admin.MapImageAdminEndpoints();
        admin.MapImageCatalogEndpoints();
        admin.MapBackupEndpoints();
        admin.MapPrometheusTargets();
        admin.MapTokenEndpoints();
        admin.MapInstanceEndpoints();
        admin.MapDashboardApiEndpoints();
        return app;
    }

    /// <summary>The hub addresses kldload listens on itself (none without the hub, or where --urls covers them).</summary>
    private static IReadOnlyList<IPEndPoint> MeshListenEndpoints(KldloadConfiguration config, IServiceProvider services)
    {
        if (!config.Mesh.Enabled)
        {
            return [];
        }

        var addresses = services.GetRequiredService<Kldload.MeshCA.Addressing.MeshAddressAllocator>();
        IPAddress[] hub = addresses.HubAddress4 is { } hub4 ? [addresses.HubAddress6, hub4] : [addresses.HubAddress6];
        return MeshHttpListener.MissingEndpoints(config.Urls, hub, config.MeshHttpPort);
    }

    /// <summary>Inventory, boot policy, admin API: the provisioner's own services.</summary>
    private static void AddProvisioner(WebApplicationBuilder builder, KldloadConfiguration config)
    {
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi();
        builder.Services.AddSingleton(AdminToken.LoadOrCreate(config.Auth));
        builder.Services.AddSingleton<OperatorTokens>();
        // The Prometheus side of the domain services: they report to these observers, the host owns the metrics.
        builder.Services.AddSingleton<PrometheusInventoryObserver>();
        builder.Services.AddSingleton<IInventoryObserver>(sp => sp.GetRequiredService<PrometheusInventoryObserver>());
        builder.Services.AddSingleton<IScrapeTimeMetrics>(sp => sp.GetRequiredService<PrometheusInventoryObserver>());
        builder.Services.AddSingleton<IAttestationObserver, PrometheusAttestationObserver>();
        builder.Services.AddSingleton<IBackupObserver, PrometheusBackupObserver>();
        builder.Services.AddSingleton(sp => new NodeService(sp.GetRequiredService<INodeStore>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IClusterNotifications>(), sp.GetRequiredService<IInventoryObserver>())
        {
            MaxDiscovered = config.Inventory.MaxDiscovered,
        });
        builder.Services.AddSingleton<BootTokens>();
        builder.Services.AddSingleton<BootLanLimits>();
        builder.Services.AddRateLimiter(o => BootLanLimits.Configure(o, config.Limits));
        builder.Services.AddHostedService<DiscoveredExpiry>();
        builder.Services.AddSingleton<BootPlanner>();
        builder.Services.AddSingleton<BootLoaderChoice>();
        builder.Services.AddSingleton<BootScripts>();
        builder.Services.AddSingleton(IpxeTemplates.Load());
        builder.Services.AddSingleton<IBootImageSource, StoreBootImageSource>();
        builder.Services.AddSingleton<IImageReferenceSource, InventoryImageReferences>();
        builder.Services.AddSingleton<DhcpLeases>();
        builder.Services.AddSingleton<Dhcp6Leases>();
        builder.Services.AddSingleton<DhcpBootRecorder>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DhcpBootRecorder>());
        builder.Services.AddSingleton<BootStepRecorder>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BootStepRecorder>());
        builder.Services.AddSingleton<NodeIdentities>();
        builder.Services.AddSingleton<AttestationRecorder>();
        builder.Services.AddSingleton<HardwareInventory>();
        builder.Services.AddSingleton(new Power.BmcCredentialKey(config.Kldload.DataDir));
        builder.Services.AddSingleton<Power.IBmcConnector, Power.BmcConnector>();
        builder.Services.AddSingleton<Power.PowerService>();
        builder.Services.AddSingleton<Power.RolloutService>();
        builder.Services.AddHostedService<Power.RolloutRunner>();
        builder.Services.AddSingleton<ServedLoaders>();
        builder.Services.AddSingleton<AttestationAdmission>();
        builder.Services.AddSingleton<AttestationService>();
        builder.Services.AddSingleton<ReadyStep>();
        builder.Services.AddSingleton<ControlChannelRegistry>();
        builder.Services.AddSingleton<INodeLifecycleHooks, MeshLifecycleHooks>();
        builder.Services.AddSingleton<BackupService>();
        builder.Services.AddSingleton<BackupScheduler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BackupScheduler>());
    }

    /// <summary>Runs <c>kldload serve</c> until SIGTERM/SIGINT. Returns the process exit code.</summary>
    public static async Task<int> RunAsync(KldloadConfiguration config, CancellationToken cancellationToken = default)
    {
        WebApplication app;
        try
        {
            app = Build(config);
        }
        catch (SettingBindException e)
        {
            await Console.Error.WriteLineAsync($"kldload: cannot start: {e.Message}").ConfigureAwait(false);
            return ExitCodes.BadSettings;
        }

        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Kldload.Host");
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (FindBindProblem(e, config, app.Services) is { } problem)
        {
            await Console.Error.WriteLineAsync($"kldload: cannot start: {problem}").ConfigureAwait(false);
            await StopQuietly(app).ConfigureAwait(false);
            return ExitCodes.BadSettings;
        }

        var serverUrl = app.Services.GetRequiredService<ServerUrl>();
        var admin = app.Services.GetService<AdminListeners>();
        var adminUrls = admin?.BoundUrls.Select(u => u.ToString().TrimEnd('/')).ToHashSet(StringComparer.OrdinalIgnoreCase) ?? [];
        Log.Started(log, BuildInfo.Version, string.Join(", ", serverUrl.ListenUrls.Where(u => !adminUrls.Contains(u))), serverUrl.Value, config.Kldload.DataDir);
        if (admin is not null)
        {
            Log.AdminSurface(log, string.Join(", ", admin.BoundUrls.Select(u => u.ToString().TrimEnd('/'))), admin.Fingerprint, admin.CertificateSource);
            if (config.Admin.MeshHubPort is { } hubPort && !config.Mesh.Enabled)
            {
                Log.AdminMeshHubOff(log, hubPort);
            }
        }
        if (config.Tftp.Enabled && config.Tftp.RootMissing)
        {
            Log.TftpRootMissing(log, config.Tftp.Root);
        }

        foreach (var (path, package) in MissingSignedLoaders(config, app.Services.GetRequiredService<IProfileStore>()))
        {
            Log.SignedLoaderMissing(log, path, package);
        }

        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        Log.Stopped(log);
        await app.DisposeAsync().ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static async Task StopQuietly(WebApplication app)
    {
        try
        {
            await app.StopAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Already failing to start: the bind problem is the message that matters.
        }

        await app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Turns a bind failure into a line that names the setting to change.</summary>
    private static string? FindBindProblem(Exception e, KldloadConfiguration config, IServiceProvider services)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SettingBindException sbe)
            {
                return sbe.Message;
            }
        }

        var socket = e as SocketException ?? e.InnerException as SocketException ?? e.InnerException?.InnerException as SocketException;
        if (e is IOException || socket is not null)
        {
            var why = socket is null ? e.Message : SocketBindErrors.Describe(socket);
            if (MeshListenEndpoints(config, services).FirstOrDefault(m => e.Message.Contains(m.ToString(), StringComparison.OrdinalIgnoreCase)) is { } mesh)
            {
                return $"Mesh:Enabled = 'true': cannot listen on the hub's mesh address {mesh} (the port is the server URL's, which nodes dial there): {why}";
            }

            if (config.Admin.Urls.FirstOrDefault(a => a.Port != 0 && e.Message.Contains(a.IsLoopback ? $":{a.Port}" : $"{a.Host}:{a.Port}", StringComparison.OrdinalIgnoreCase)) is { } adminUrl)
            {
                return $"Admin:Urls = '{adminUrl.OriginalString}': cannot listen: {why}";
            }

            var urls = string.Join(";", config.Urls.Select(u => u.OriginalString));
            return $"urls = '{urls}': cannot listen: {why}; change --urls (or ASPNETCORE_URLS)";
        }

        return null;
    }

    private static void MapHealth(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n")).ExcludeFromDescription();
        app.MapGet("/readyz", (IEnumerable<IReadinessCheck> checks) =>
        {
            var failing = new List<string>();
            foreach (var check in checks)
            {
                if (!check.IsReady(out var problem))
                {
                    failing.Add($"{check.Name}: {problem}");
                }
            }

            return failing.Count == 0
                ? Results.Text("ready\n")
                : Results.Problem(title: "not ready", detail: string.Join("; ", failing), statusCode: StatusCodes.Status503ServiceUnavailable);
        }).ExcludeFromDescription();
    }

    /// <summary>
    /// The signed loaders (<c>Boot:Grub</c>) that are missing while some node may be sent down the GRUB
    /// path (<c>Boot:Loader=grub</c> or a profile's <c>loader</c>), each with the Debian package that installs it.
    /// </summary>
    internal static IEnumerable<(string Path, string Package)> MissingSignedLoaders(KldloadConfiguration config, IProfileStore profiles)
    {
        var used = config.Boot.Loader == BootLoaderKind.Grub || profiles.List().Any(p => p.Loader == BootLoaderKind.Grub);
        if (!used || !config.Tftp.Enabled)
        {
            yield break;
        }

        if (!File.Exists(config.Boot.Grub.ShimX64))
        {
            yield return (config.Boot.Grub.ShimX64, "shim-signed");
        }

        if (!File.Exists(config.Boot.Grub.GrubX64))
        {
            yield return (config.Boot.Grub.GrubX64, "grub-efi-amd64-signed");
        }
    }

    internal static Serilog.ILogger CreateLogger(KldloadSettings settings)
    {
        var level = settings.LogLevel switch
        {
            LogLevelSetting.Verbose => LogEventLevel.Verbose,
            LogLevelSetting.Debug => LogEventLevel.Debug,
            LogLevelSetting.Warning => LogEventLevel.Warning,
            LogLevelSetting.Error => LogEventLevel.Error,
            LogLevelSetting.Fatal => LogEventLevel.Fatal,
            _ => LogEventLevel.Information,
        };
        var lc = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.AspNetCore.Hosting.Diagnostics", LogEventLevel.Warning)
            // A failed start is reported once, as one line naming the setting; not as a stack trace.
            .MinimumLevel.Override("Microsoft.Extensions.Hosting.Internal.Host", LogEventLevel.Fatal)
            .Enrich.FromLogContext();
        lc = settings.LogFormat == LogFormat.Json
            ? lc.WriteTo.Console(new RenderedCompactJsonFormatter())
            : lc.WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}");
        return lc.CreateLogger();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.HostStarted, Level = LogLevel.Information, Message = "kldload {Version} serving on {ListenUrls}; nodes use {ServerUrl}; data in {DataDir}")]
        public static partial void Started(Microsoft.Extensions.Logging.ILogger logger, string version, string listenUrls, Uri serverUrl, string dataDir);

        [LoggerMessage(EventId = LogEvents.AdminSurface, Level = LogLevel.Information, Message = "admin API, dashboard and /metrics on {AdminUrls} only (TLS; certificate SHA-256 {Fingerprint} from {Source}); the --urls listeners serve the nodes' routes")]
        public static partial void AdminSurface(Microsoft.Extensions.Logging.ILogger logger, string adminUrls, string fingerprint, string source);

        [LoggerMessage(EventId = LogEvents.AdminMeshHubOff, Level = LogLevel.Information, Message = "Admin:Urls names https://mesh-hub:{Port}, but the mesh is off (Mesh:Enabled=false): no admin listener on the hub's mesh address")]
        public static partial void AdminMeshHubOff(Microsoft.Extensions.Logging.ILogger logger, int port);

        [LoggerMessage(EventId = LogEvents.HostStopped, Level = LogLevel.Information, Message = "kldload stopped cleanly")]
        public static partial void Stopped(Microsoft.Extensions.Logging.ILogger logger);

        [LoggerMessage(EventId = LogEvents.SignedLoaderMissing, Level = LogLevel.Warning, Message = "Boot:Loader=grub (globally or in a profile) but {Path} is missing: install Debian's {Package} package or set Boot:Grub; UEFI x64 nodes on the signed path cannot boot")]
        public static partial void SignedLoaderMissing(Microsoft.Extensions.Logging.ILogger logger, string path, string package);

        [LoggerMessage(EventId = LogEvents.TftpRootMissing, Level = LogLevel.Warning, Message = "Tftp:Root {Root} does not exist: install Debian's ipxe package or set Tftp:Root; only generated files are served over TFTP")]
        public static partial void TftpRootMissing(Microsoft.Extensions.Logging.ILogger logger, string root);
    }
}
