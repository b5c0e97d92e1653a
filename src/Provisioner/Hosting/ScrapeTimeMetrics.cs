namespace Kldload.Provisioner.Hosting;

/// <summary>Refreshes this host's <see cref="IScrapeTimeMetrics"/> before <c>/metrics</c> answers.</summary>
internal static class ScrapeTimeMetrics
{
    /// <summary>
    /// Adds the refresh in front of the metrics endpoint at <paramref name="path"/>. Each host refreshes
    /// its own components (nothing is registered in the process-wide Prometheus registry).
    /// </summary>
    public static void UseScrapeTimeMetrics(this WebApplication app, PathString path) =>
        app.UseWhen(context => context.Request.Path.Equals(path), scrape => scrape.Use(next => context =>
        {
            foreach (var metrics in context.RequestServices.GetServices<IScrapeTimeMetrics>())
            {
                metrics.Refresh();
            }

            return next(context);
        }));
}
