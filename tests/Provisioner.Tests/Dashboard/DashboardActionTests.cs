using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.ImageStore;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Tests.Attestation;
using Microsoft.Playwright;

namespace Kldload.Provisioner.Tests.Dashboard;

/// <summary>
/// The dashboard's actions in Debian's headless Chromium against the real host, the real image store
/// and a swtpm node: approve, decommission, roll back and promote through the confirmation dialog,
/// the boot waterfall of a node that booted to Ready, and a viewer who is shown no buttons.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class DashboardActionTests : IAsyncLifetime
{
    private static readonly LocatorWaitForOptions Wait = new() { Timeout = 15_000 };

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-dashact-").FullName;
    private TestHost _host = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _host = await TestHost.StartAsync(_dir, null, "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Approve");
        await ImportAsync("1");
        await ImportAsync("2");
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Imports image live VERSION and promotes it to stable.</summary>
    private async Task ImportAsync(string version)
    {
        var src = Directory.CreateDirectory(Path.Combine(_dir, "src-" + version)).FullName;
        File.WriteAllBytes(Path.Combine(src, "kernel"), RandomNumberGenerator.GetBytes(40_000));
        File.WriteAllBytes(Path.Combine(src, "initrd"), RandomNumberGenerator.GetBytes(60_000));
        var store = _host.Service<LiveImageStore>();
        await store.ImportDirectoryAsync(src, new DirectoryImportOptions { Name = "live", Version = version, CommandLine = "console=ttyS0" }, "test");
        store.Catalog.Promote("stable", new ImageKey("live", version), "test");
    }

    private async Task<string> TokenAsync(string name, string role)
    {
        var r = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/tokens", UriKind.Relative), new { name, role });
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        return (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    private async Task<IPage> OpenAsync(string token)
    {
        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        await page.GotoAsync(new Uri(_host.Http.BaseAddress!, "/dashboard").ToString());
        await page.Locator("#token").FillAsync(token);
        await page.Locator("#login button").ClickAsync();
        await page.Locator("#login").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Hidden, Timeout = 15_000 });
        await page.Locator("#status", new PageLocatorOptions { HasText = "live" }).WaitForAsync(Wait);
        return page;
    }

    private async Task<JsonElement> NodeAsync(string mac) =>
        await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));

    /// <summary>A boot as iPXE makes it: the script, then the kernel and initrd it names. Returns the boot token.</summary>
    private async Task<string> BootAsync(string mac)
    {
        var script = await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&arch=x86_64", UriKind.Relative));
        foreach (var line in script.Split('\n').Where(l => l.StartsWith("kernel ", StringComparison.Ordinal) || l.StartsWith("initrd ", StringComparison.Ordinal)))
        {
            await _host.Http.GetByteArrayAsync(new Uri(line.Split(' ').First(w => w.Contains("/images/", StringComparison.Ordinal))));
        }

        // The fetches are written to the history by a background task after each response: wait for
        // them, so that the attestation that follows lands after them as it would on a real node.
        for (var i = 0; i < 100; i++)
        {
            var boots = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}/boots", UriKind.Relative));
            if (boots.GetArrayLength() > 0 && boots[0].GetProperty("steps").EnumerateArray().Last().GetProperty("step").GetString() == "Initrd")
            {
                break;
            }

            await Task.Delay(100);
        }

        return script.Split("kldload.token=")[1].Split('\n')[0].Split(' ')[0].Trim();
    }

    /// <summary>The agent's attestation (<see cref="ApprovalFactsTests.AttestAsync"/>), with <paramref name="facts"/> bound into the quote when given.</summary>
    private Task<string> AttestAsync(SwtpmNode node, string token, string mac, string? facts = null) =>
        ApprovalFactsTests.AttestAsync(_host.Http, node, token, mac, facts, bind: true);

    private static string Screenshots()
    {
        var path = Path.Combine(RepositoryPaths.Root, "artifacts", "screenshots");
        Directory.CreateDirectory(path);
        return path;
    }

    [Fact]
    public async Task Approve_EnrollingSwtpmNode_DialogShowsTheEkThenTheNodeBootsToReadyAndTheWaterfallDrawsEachStep()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:72:00:01";
        const string facts = """{"schema":1,"system":{"manufacturer":"kldload","product":"dashboard box","serial":"KLD-DASH-7"},"memory":{"totalGiB":4,"totalBytes":4294967296,"dimms":[]}}""";
        Assert.Equal("Enrolling", await AttestAsync(tpm, await BootAsync(mac), mac, facts));
        var ek = (await NodeAsync(mac)).GetProperty("ekFingerprint").GetString()!;

        var page = await OpenAsync(File.ReadAllText(Path.Combine(_dir, "admin.token")).Trim());
        var row = page.Locator("#nodes tr", new PageLocatorOptions { HasText = mac });
        await row.WaitForAsync(Wait);
        Assert.Contains("Enrolling", await row.InnerTextAsync(), StringComparison.Ordinal);
        await row.ClickAsync();
        await page.Locator("#actions button[data-action=approve]").ClickAsync();

        // Before the click that approves: the EK fingerprint, the certificate line, and the facts the
        // node sent with the attestation that left it waiting, marked as bound to its TPM's quote.
        var dialog = page.Locator("#confirm");
        await dialog.WaitForAsync(Wait);
        var shown = await page.Locator("#confirm-body").InnerTextAsync();
        Assert.Contains(ek, shown, StringComparison.Ordinal);
        Assert.Contains("EK certificate", shown, StringComparison.Ordinal);
        Assert.Contains("bound to the quote of the TPM that proved this EK", shown, StringComparison.Ordinal);
        Assert.Contains("kldload · dashboard box · serial KLD-DASH-7", shown, StringComparison.Ordinal);
        Assert.Contains("4 GiB", shown, StringComparison.Ordinal);
        Assert.False((await NodeAsync(mac)).GetProperty("ekApproved").GetBoolean());
        await page.Locator("#confirm-ok").ClickAsync();

        await page.Locator("#timeline li", new PageLocatorOptions { HasText = "EK and firmware approved" }).WaitForAsync(Wait);
        Assert.Contains("admin", await page.Locator("#timeline li", new PageLocatorOptions { HasText = "EK and firmware approved" }).InnerTextAsync(), StringComparison.Ordinal);
        await dialog.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Hidden, Timeout = 15_000 });
        Assert.True((await NodeAsync(mac)).GetProperty("ekApproved").GetBoolean());

        // The node reboots and attests again: approved, it goes to Ready, and the page follows live.
        Assert.Equal("Ready", await AttestAsync(tpm, await BootAsync(mac), mac));
        await page.Locator("#nodes tr", new PageLocatorOptions { HasText = mac }).Locator(".state.Ready").WaitForAsync(Wait);
        await page.Locator("#waterfall g.step[data-step=ready]").WaitForAsync(Wait);
        await page.Locator("#actions button[data-action=rotate-key]").WaitForAsync(Wait);
        Assert.Equal(0, await page.Locator("#actions button[data-action=approve]").CountAsync());
        var steps = await page.Locator("#waterfall g.step").EvaluateAllAsync<string[]>("gs => gs.map(g => g.dataset.step)");
        Assert.Equal(["script", "kernel", "initrd", "challenge", "quote", "activate", "ready"], steps);
        Assert.Contains("Ready", await page.Locator("#boots button[aria-pressed=true]").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(2, await page.Locator("#boots button").CountAsync());

        // The fleet charts: one node on the mesh; one attestation held for approval, one attested.
        await page.Locator("#boot-to-mesh rect.bar[data-count=\"1\"]").WaitForAsync(Wait);
        await page.Locator("#attestations rect.attested").WaitForAsync(Wait);
        Assert.Equal("1", await page.Locator("#attestations rect.held").GetAttributeAsync("data-count"));

        var shot = Path.Combine(Screenshots(), "dashboard-waterfall.png");
        await page.Locator("#waterfall").ScreenshotAsync(new LocatorScreenshotOptions { Path = shot });
        Assert.True(new FileInfo(shot).Length > 1000);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots(), "dashboard-node.png"), FullPage = true });

        // The Ready node's own actions: rotate its key, then reimage it from a chosen channel.
        var inventory = _host.Service<NodeService>();
        var epoch = inventory.Store.List().First(n => n.Macs.Contains(mac)).Epoch;
        await page.Locator("#actions button[data-action=rotate-key]").ClickAsync();
        await page.Locator("#confirm-ok").ClickAsync();
        await page.Locator("#timeline li", new PageLocatorOptions { HasText = "WireGuard key rotated" }).WaitForAsync(Wait);
        Assert.Equal(epoch + 1, inventory.Store.List().First(n => n.Macs.Contains(mac)).Epoch);

        await page.Locator("#actions button[data-action=reimage]").ClickAsync();
        await page.Locator("#reimage-with").SelectOptionAsync("channel:stable");
        await page.Locator("#confirm-ok").ClickAsync();
        await page.Locator("#timeline li", new PageLocatorOptions { HasText = "Ready -> Reimaging" }).WaitForAsync(Wait);
        Assert.Equal("Reimaging", (await NodeAsync(mac)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Decommission_CancelSendsNothing_ConfirmDecommissionsAndTheTimelineSaysWho()
    {
        const string mac = "52:54:00:72:00:02";
        await BootAsync(mac);
        var page = await OpenAsync(await TokenAsync("olga", "operator"));
        await page.Locator("#whoami", new PageLocatorOptions { HasText = "olga (operator)" }).WaitForAsync(Wait);
        var row = page.Locator("#nodes tr", new PageLocatorOptions { HasText = mac });
        await row.WaitForAsync(Wait);
        await row.ClickAsync();

        // A refusal stays in the open dialog: this node has no BMC.
        await page.Locator("#actions button[data-action=power]").ClickAsync();
        await page.Locator("#confirm-ok").ClickAsync();
        await page.Locator("#confirm-error", new PageLocatorOptions { HasText = "BMC" }).WaitForAsync(Wait);
        Assert.True(await page.Locator("#confirm").IsVisibleAsync());
        await page.Locator("#confirm-cancel").ClickAsync();
        await page.Locator("#confirm").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Hidden, Timeout = 15_000 });

        // A destructive action opens on Cancel: Escape (or Enter on Cancel) sends nothing.
        await page.Locator("#actions button[data-action=decommission]").ClickAsync();
        await page.Locator("#confirm").WaitForAsync(Wait);
        Assert.Equal("confirm-cancel", await page.EvaluateAsync<string>("() => document.activeElement.id"));
        await page.Keyboard.PressAsync("Escape");
        await page.Locator("#confirm").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Hidden, Timeout = 15_000 });
        Assert.Equal("Discovered", (await NodeAsync(mac)).GetProperty("state").GetString());

        await page.Locator("#actions button[data-action=decommission]").ClickAsync();
        await page.Locator("#confirm-ok").ClickAsync();
        await page.Locator("#timeline li", new PageLocatorOptions { HasText = "Discovered -> Decommissioned" }).WaitForAsync(Wait);
        Assert.Contains("olga", await page.Locator("#timeline li", new PageLocatorOptions { HasText = "Discovered -> Decommissioned" }).InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal("Decommissioned", (await NodeAsync(mac)).GetProperty("state").GetString());
        await page.Locator("#action-result", new PageLocatorOptions { HasText = "Decommission" }).WaitForAsync(Wait);
        Assert.Equal(0, await page.Locator("#actions button[data-action=decommission]").CountAsync());
    }

    [Fact]
    public async Task Rollback_Channel_TheHeadMovesBack_AndPromoteMovesItForward()
    {
        var page = await OpenAsync(File.ReadAllText(Path.Combine(_dir, "admin.token")).Trim());
        await page.Locator("#tab-images").ClickAsync();
        var stable = page.Locator("#channels tr[data-channel=stable]");
        await stable.Locator("td.current", new LocatorLocatorOptions { HasText = "live/2" }).WaitForAsync(Wait);

        await stable.Locator("button[data-action=rollback]").ClickAsync();
        var shown = await page.Locator("#confirm-body").InnerTextAsync();
        Assert.Contains("live/2", shown, StringComparison.Ordinal);
        Assert.Contains("live/1", shown, StringComparison.Ordinal);
        await page.Locator("#confirm-ok").ClickAsync();
        await stable.Locator("td.current", new LocatorLocatorOptions { HasText = "live/1" }).WaitForAsync(Wait);
        await page.Locator("#images-result", new PageLocatorOptions { HasText = "rolled back by admin" }).WaitForAsync(Wait);
        var channel = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/channels/stable", UriKind.Relative));
        Assert.Equal("live/1", channel.GetProperty("channel").GetProperty("current").GetString());
        Assert.Equal("Rollback", channel.GetProperty("history").EnumerateArray().Last().GetProperty("action").GetString());

        await page.Locator("#promote-channel").FillAsync("stable");
        await page.Locator("#promote-image").SelectOptionAsync(new SelectOptionValue { Label = "live 2" });
        await page.Locator("#promote button").ClickAsync();
        await page.Locator("#confirm-ok").ClickAsync();
        await stable.Locator("td.current", new LocatorLocatorOptions { HasText = "live/2" }).WaitForAsync(Wait);
        Assert.Equal("live/2", (await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/channels/stable", UriKind.Relative))).GetProperty("channel").GetProperty("current").GetString());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots(), "dashboard-images.png"), FullPage = true });
    }

    [Fact]
    public async Task Viewer_SeesNoActionButtons_OnNodesOrChannels()
    {
        const string mac = "52:54:00:72:00:03";
        await BootAsync(mac);
        var page = await OpenAsync(await TokenAsync("vic", "viewer"));
        await page.Locator("#whoami", new PageLocatorOptions { HasText = "vic (viewer)" }).WaitForAsync(Wait);
        var row = page.Locator("#nodes tr", new PageLocatorOptions { HasText = mac });
        await row.WaitForAsync(Wait);
        await row.ClickAsync();
        await page.Locator("#waterfall g.step[data-step=initrd]").WaitForAsync(Wait);

        Assert.Equal(0, await page.Locator("#actions button").CountAsync());
        Assert.False(await page.Locator("#actions").IsVisibleAsync());

        await page.Locator("#tab-images").ClickAsync();
        await page.Locator("#channels tr[data-channel=stable]").WaitForAsync(Wait);
        Assert.Equal(0, await page.Locator("#channels button").CountAsync());
        Assert.Equal(0, await page.Locator("#images-view button:visible").CountAsync());
        Assert.False(await page.Locator("#promote").IsVisibleAsync());
        Assert.Equal(2, await page.Locator("#images tr").CountAsync());
    }
}
