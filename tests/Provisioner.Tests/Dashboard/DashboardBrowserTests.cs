using Microsoft.Playwright;

namespace Kldload.Provisioner.Tests.Dashboard;

/// <summary>The dashboard in Debian's headless Chromium, driven by Playwright, against the real host.</summary>
[Trait("Tier", "Peer")]
public sealed class DashboardBrowserTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-dash-").FullName;
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        _host = await TestHost.StartAsync(_dir, images, "--Boot:DefaultChannel=stable");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Dashboard_ShowsNodesTimelineAndLiveUpdates()
    {
        await _host.Http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:30:00:01&platform=efi&arch=x86_64", UriKind.Relative));
        var token = File.ReadAllText(Path.Combine(_dir, "admin.token")).Trim();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 700 } });
        await page.GotoAsync(new Uri(_host.Http.BaseAddress!, "/dashboard").ToString());

        // Without a token the page asks for one; with the right one it shows the node.
        await page.Locator("#token").FillAsync(token);
        await page.Locator("#login button").ClickAsync();
        var row = page.Locator("#nodes tr", new PageLocatorOptions { HasText = "52:54:00:30:00:01" });
        await row.WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });
        Assert.Contains("Discovered", await row.InnerTextAsync(), StringComparison.Ordinal);
        // The page hides the login once its whole first refresh is done, which may be a moment after the
        // node table is drawn: wait for that rather than sampling it.
        await page.Locator("#login").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Hidden, Timeout = 15_000 });

        await row.ClickAsync();
        await page.Locator("#timeline li", new PageLocatorOptions { HasText = "script: live 1" }).WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });

        // Live: a node that boots while the page is open appears without a reload.
        await page.Locator("#status", new PageLocatorOptions { HasText = "live" }).WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });
        await _host.Http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:30:00:02&platform=pcbios", UriKind.Relative));
        await page.Locator("#nodes tr", new PageLocatorOptions { HasText = "52:54:00:30:00:02" }).WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });

        var shot = Path.Combine(ArtifactsDirectory(), "dashboard.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        Assert.True(new FileInfo(shot).Length > 1000);
    }

    [Fact]
    public async Task Dashboard_WrongToken_AsksAgain()
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync();
        await page.GotoAsync(new Uri(_host.Http.BaseAddress!, "/dashboard#token=wrong-token-123456").ToString());
        await page.Locator("#status", new PageLocatorOptions { HasText = "wrong or missing token" }).WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });
        Assert.True(await page.Locator("#login").IsVisibleAsync());
    }

    /// <summary>Screenshots go to artifacts/screenshots at the repository root (kept by CI as artifacts).</summary>
    private static string ArtifactsDirectory()
    {
        var path = Path.Combine(RepositoryPaths.Root, "artifacts", "screenshots");
        Directory.CreateDirectory(path);
        return path;
    }
}
