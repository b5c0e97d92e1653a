namespace Kldload.Provisioner.Dashboard;

/// <summary>
/// The operator's web page, served by kldload itself from an embedded resource: no separate server
/// and no build step at run time. The page holds no data; it reads the admin API with the token the
/// operator enters.
/// </summary>
public static class DashboardEndpoints
{
    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("Kldload.Provisioner.Dashboard.dashboard.html")
            ?? throw new InvalidOperationException("the dashboard page is not embedded in the assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public static WebApplication MapDashboard(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/", () => Results.Redirect("/dashboard")).ExcludeFromDescription();
        app.MapGet("/dashboard", () => Results.Content(Page.Value, "text/html; charset=utf-8")).ExcludeFromDescription();
        return app;
    }
}
