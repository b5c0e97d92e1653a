using System.Globalization;

namespace Kldload.Provisioner.Tests.Hosting;

/// <summary>
/// Metrics read at scrape time (<c>kldload_nodes{state}</c> here) come from the host that answers
/// the scrape: two hosts in one process each report their own inventory, whichever started last.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class ScrapeTimeMetricsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-scrape-").FullName;
    private TestHost _busy = null!;
    private TestHost _empty = null!;

    public async Task InitializeAsync()
    {
        _busy = await TestHost.StartAsync(Path.Combine(_dir, "busy"));
        _empty = await TestHost.StartAsync(Path.Combine(_dir, "empty"));
    }

    public async Task DisposeAsync()
    {
        await _empty.DisposeAsync();
        await _busy.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task NodesByState_TwoHostsInOneProcess_EachScrapeCountsItsOwnInventory()
    {
        foreach (var mac in new[] { "52:54:00:5c:00:01", "52:54:00:5c:00:02" })
        {
            await _busy.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative));
        }

        Assert.Equal(2, Discovered(await ScrapeAsync(_busy)));
        Assert.Equal(0, Discovered(await ScrapeAsync(_empty)));
        Assert.Equal(2, Discovered(await ScrapeAsync(_busy)));
    }

    [Fact]
    public async Task BootSteps_Recorded_CountedByStage()
    {
        var before = await ScrapeAsync(_busy);
        await _busy.Http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:5c:00:03&platform=efi", UriKind.Relative));
        var after = await ScrapeAsync(_busy);

        var stages = after.Split('\n').Where(l => l.StartsWith("kldload_boots_total{stage=", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(stages);
        Assert.True(Sum(after, "kldload_boots_total{") > Sum(before, "kldload_boots_total{"), after);
    }

    private static async Task<string> ScrapeAsync(TestHost host) => await host.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));

    private static int Discovered(string metrics) =>
        (int)Sum(metrics, "kldload_nodes{state=\"Discovered\"}");

    private static double Sum(string metrics, string prefix) =>
        metrics.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
}
