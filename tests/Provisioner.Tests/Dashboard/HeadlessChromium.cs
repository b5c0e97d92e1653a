using Microsoft.Playwright;

namespace Kldload.Provisioner.Tests.Dashboard;

/// <summary>Debian's Chromium, headless, through Playwright: one launch for the dashboard tests.</summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    private readonly IPlaywright _playwright;

    private HeadlessChromium(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        Browser = browser;
    }

    public IBrowser Browser { get; }

    public static async Task<HeadlessChromium> LaunchAsync()
    {
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = "/usr/bin/chromium",
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            });
            return new HeadlessChromium(playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>A page on the dashboard at <paramref name="baseAddress"/>, signed in with <paramref name="token"/> (the token travels in the fragment).</summary>
    public async Task<IPage> DashboardAsync(Uri baseAddress, string token)
    {
        var page = await Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        await page.GotoAsync(new Uri(baseAddress, "/dashboard#token=" + token).ToString());
        await page.Locator("#login").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Hidden, Timeout = 15_000 });
        return page;
    }

    /// <summary>Screenshots go to artifacts/screenshots at the repository root (kept by CI as artifacts).</summary>
    public static string ScreenshotPath(string name)
    {
        var path = Path.Combine(RepositoryPaths.Root, "artifacts", "screenshots");
        Directory.CreateDirectory(path);
        return Path.Combine(path, name);
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright.Dispose();
    }
}
