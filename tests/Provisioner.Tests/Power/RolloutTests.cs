using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.ImageStore;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Power;
using Kldload.Provisioner.Tests.Attestation;
using Kldload.Provisioner.Tests.Dashboard;
using Microsoft.Playwright;

namespace Kldload.Provisioner.Tests.Power;

/// <summary>
/// Fleet rollouts in the real host: the image store and the inventory in LiteDB files in a temp data
/// directory, one ipmi_sim per node as its BMC, one swtpm per node as its TPM. A node "boots" (the
/// agent's attestation steps against the host) each time its ipmi_sim turns the power back on, as a
/// machine wired to that BMC would; what it does then is up to the test (attest, drift, stay dark).
/// </summary>
[Trait("Tier", "Peer")]
public sealed class RolloutTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-rollout-").FullName;
    private readonly List<Machine> _machines = [];
    private TestHost _host = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var m in _machines)
        {
            await m.DisposeAsync();
        }

        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Rollout_TwoNodesOneAtATime_EachReadyOnTheNewImageBeforeTheNextStarts()
    {
        await StartHostAsync();
        var a = await AddNodeAsync("node-a", "52:54:00:15:20:01");
        var b = await AddNodeAsync("node-b", "52:54:00:15:20:02");

        var rollout = await StartRolloutAsync(new RolloutRequest("stable", "promote", "live", "2", 1, null, null, 60));
        Assert.Equal(2, rollout.GetProperty("total").GetInt32());
        Assert.Equal(2, rollout.GetProperty("waves").GetInt32());

        var done = await WaitForEndAsync(rollout.GetProperty("id").GetString()!, TimeSpan.FromSeconds(90));
        Assert.Equal("Completed", done.GetProperty("state").GetString());
        var nodes = done.GetProperty("nodes").EnumerateArray().ToList();
        Assert.All(nodes, n => Assert.Equal("Ready", n.GetProperty("state").GetString()));
        Assert.All(nodes, n => Assert.True(n.GetProperty("bootToMeshSeconds").GetDouble() >= 0));
        // Wave 2 began only after wave 1's node had attested the new image.
        Assert.True(nodes[1].GetProperty("startedAt").GetDateTime() >= nodes[0].GetProperty("finishedAt").GetDateTime(), done.ToString());
        Assert.True(b.FirstPowerOnAt >= a.ReadyAt, $"b powered on at {b.FirstPowerOnAt:O}, a Ready at {a.ReadyAt:O}");
        foreach (var m in new[] { a, b })
        {
            var node = await NodeAsync(m.Mac);
            Assert.Equal("Ready", node.GetProperty("state").GetString());
            Assert.Equal("live 2", node.GetProperty("lastBootedImage").GetString());
            Assert.Equal(["boot pxe", "power 0", "power 1"], m.Sim.ControlLog);
            Assert.Empty(m.Errors);
        }

        // The node's history says which rollout rebuilt it.
        var events = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{a.Mac}/events", UriKind.Relative));
        Assert.Contains(events.EnumerateArray(), e => e.GetProperty("message").GetString()!.Contains($"rollout {rollout.GetProperty("id").GetString()} of channel stable, wave 1/2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rollout_KldloadRestartsWhileANodeRebuilds_ResumesAndCompletes()
    {
        await StartHostAsync();
        var a = await AddNodeAsync("node-a", "52:54:00:15:21:01");
        var b = await AddNodeAsync("node-b", "52:54:00:15:21:02");
        a.Hold = true; // a powers on but does not boot until the test lets it
        var id = (await StartRolloutAsync(new RolloutRequest("stable", "promote", "live", "2", 1, null, null, 120))).GetProperty("id").GetString()!;
        await WaitForAsync(() => a.PowerOns >= 1, TimeSpan.FromSeconds(30));

        // kldload stops with node-a in flight, and starts again on the same data directory.
        await _host.DisposeAsync();
        _host = await TestHost.StartAsync(_dir, null, HostSettings);
        var resumed = await RolloutAsync(id);
        Assert.Equal("Running", resumed.GetProperty("state").GetString());
        Assert.Equal("Rebuilding", resumed.GetProperty("nodes")[0].GetProperty("state").GetString());
        Assert.Equal("Pending", resumed.GetProperty("nodes")[1].GetProperty("state").GetString());

        a.Hold = false;
        var done = await WaitForEndAsync(id, TimeSpan.FromSeconds(90));
        Assert.Equal("Completed", done.GetProperty("state").GetString());
        Assert.Equal("live 2", (await NodeAsync(a.Mac)).GetProperty("lastBootedImage").GetString());
        Assert.Equal("live 2", (await NodeAsync(b.Mac)).GetProperty("lastBootedImage").GetString());
        // node-a was power-cycled once: the restart did not start its rebuild again.
        Assert.Equal(["boot pxe", "power 0", "power 1"], a.Sim.ControlLog);
        Assert.Empty(a.Errors);
        Assert.Empty(b.Errors);
    }

    [Fact]
    public async Task Rollout_NodeFailsAttestation_StopsWithTheReasonAndTheInventoryStaysConsistent()
    {
        await StartHostAsync("--Attestation:FirmwareDrift=Quarantine");
        var a = await AddNodeAsync("node-a", "52:54:00:15:22:01");
        var b = await AddNodeAsync("node-b", "52:54:00:15:22:02");
        a.DriftFirmware = true; // its next boot measures different firmware: attestation quarantines it

        var id = (await StartRolloutAsync(new RolloutRequest("stable", "promote", "live", "2", 1, null, null, 60))).GetProperty("id").GetString()!;
        var done = await WaitForEndAsync(id, TimeSpan.FromSeconds(60));

        Assert.Equal("Failed", done.GetProperty("state").GetString());
        var reason = done.GetProperty("reason").GetString()!;
        Assert.StartsWith("stopped: node node-a failed: the node is Quarantined: firmware-drift", reason, StringComparison.Ordinal);
        Assert.Equal("Failed", done.GetProperty("nodes")[0].GetProperty("state").GetString());
        Assert.Equal("Pending", done.GetProperty("nodes")[1].GetProperty("state").GetString());
        // The inventory says the same: node-a held, node-b never touched and still Ready on live 1.
        Assert.Equal("Quarantined", (await NodeAsync(a.Mac)).GetProperty("state").GetString());
        var untouched = await NodeAsync(b.Mac);
        Assert.Equal("Ready", untouched.GetProperty("state").GetString());
        Assert.Equal("live 1", untouched.GetProperty("lastBootedImage").GetString());
        Assert.Empty(b.Sim.ControlLog);
        var events = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{a.Mac}/events", UriKind.Relative));
        Assert.Contains(events.EnumerateArray(), e => e.GetProperty("reason").GetString() == "rollout-failed");
        // The channel moved (the rollout's first act) and the failure does not move it back.
        var channel = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/channels/stable", UriKind.Relative));
        Assert.Equal("live/2", channel.GetProperty("channel").GetProperty("current").GetString());

        // A failed rollout can be neither resumed nor cancelled; a new one on the channel may start.
        var resume = await _host.Admin.PostAsync(new Uri($"/api/v1/rollouts/{id}/resume", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Conflict, resume.StatusCode);
        Assert.Contains("only a paused rollout", await resume.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The dashboard's rollout panel shows the same: the state, each node's chip and the reason.
        await using var chromium = await HeadlessChromium.LaunchAsync();
        var page = await chromium.DashboardAsync(_host.Http.BaseAddress!, File.ReadAllText(Path.Combine(_dir, "admin.token")).Trim());
        var panel = page.Locator($"#rollouts .rollout[data-id='{id}']");
        await panel.WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });
        var shown = await panel.InnerTextAsync();
        Assert.Contains("Failed", shown, StringComparison.Ordinal);
        Assert.Contains("channel stable", shown, StringComparison.Ordinal);
        Assert.Contains("0/2 Ready · wave 1/2", shown, StringComparison.Ordinal);
        Assert.Equal("node-a Failed", await panel.Locator(".nodes span.Failed").InnerTextAsync());
        Assert.Equal("node-b Pending", await panel.Locator(".nodes span.Pending").InnerTextAsync());
        Assert.StartsWith("the node is Quarantined: firmware-drift", await panel.Locator(".nodes span.Failed").GetAttributeAsync("title"), StringComparison.Ordinal);
        Assert.Contains("stopped: node node-a failed", shown, StringComparison.Ordinal);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = HeadlessChromium.ScreenshotPath("rollout-failed.png"), FullPage = true });
    }

    [Fact]
    public async Task Rollout_AutoRollbackAndPause_FailedNodeReturnsToThePreviousVersionAndResumeGoesOn()
    {
        await StartHostAsync();
        var a = await AddNodeAsync("node-a", "52:54:00:15:23:01");
        var b = await AddNodeAsync("node-b", "52:54:00:15:23:02");
        a.DarkBoots = 1; // the first power-on after the rebuild never comes back: the node times out

        var id = (await StartRolloutAsync(new RolloutRequest("stable", "promote", "live", "2", 1, true, true, 20))).GetProperty("id").GetString()!;
        var paused = await WaitForStateAsync(id, "Paused", TimeSpan.FromSeconds(60));

        var first = paused.GetProperty("nodes")[0];
        Assert.Equal("RolledBack", first.GetProperty("state").GetString());
        Assert.StartsWith("not Ready on live 2 after 20 s", first.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Contains($"resume with kldload image rollout resume {id}", paused.GetProperty("reason").GetString(), StringComparison.Ordinal);
        var returned = await NodeAsync(a.Mac);
        Assert.Equal("Ready", returned.GetProperty("state").GetString());
        Assert.Equal("live 1", returned.GetProperty("lastBootedImage").GetString());
        Assert.Equal("live 1", returned.GetProperty("pinnedImage").GetString());
        Assert.Empty(b.Sim.ControlLog);

        var resume = await _host.Admin.PostAsync(new Uri($"/api/v1/rollouts/{id}/resume", UriKind.Relative), null);
        Assert.True(resume.IsSuccessStatusCode, await resume.Content.ReadAsStringAsync());
        var done = await WaitForEndAsync(id, TimeSpan.FromSeconds(60));
        Assert.Equal("Completed", done.GetProperty("state").GetString());
        Assert.Contains("1 node(s) Ready on live 2, 1 failed", done.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("live 2", (await NodeAsync(b.Mac)).GetProperty("lastBootedImage").GetString());
    }

    [Fact]
    public async Task RolloutApi_BadRequests_RefusedAndNothingChanged()
    {
        await StartHostAsync();
        await AddNodeAsync("node-a", "52:54:00:15:24:01");

        var bad = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/rollouts", UriKind.Relative), new RolloutRequest(null, "promte", null, null, 0, null, null, null));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
        var text = await bad.Content.ReadAsStringAsync();
        Assert.Contains("channel is required", text, StringComparison.Ordinal);
        Assert.Contains("action 'promte'", text, StringComparison.Ordinal);
        Assert.Contains("maxUnavailable 0", text, StringComparison.Ordinal);

        var unknown = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/rollouts", UriKind.Relative), new RolloutRequest("stable", "promote", "live", "9", null, null, null, null));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.StatusCode);
        Assert.Contains("image live/9 does not exist", await unknown.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("live/1", (await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/channels/stable", UriKind.Relative))).GetProperty("channel").GetProperty("current").GetString());
        Assert.Empty((await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/rollouts", UriKind.Relative))).EnumerateArray());

        _machines[0].Hold = true;
        var id = (await StartRolloutAsync(new RolloutRequest("stable", "promote", "live", "2", null, null, null, 300))).GetProperty("id").GetString()!;
        var second = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/rollouts", UriKind.Relative), new RolloutRequest("stable", "rollback", null, null, null, null, null, null));
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Contains($"rollout {id} of channel stable is running", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("live/2", (await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/channels/stable", UriKind.Relative))).GetProperty("channel").GetProperty("current").GetString());

        await WaitForAsync(() => _machines[0].PowerOns >= 1, TimeSpan.FromSeconds(30));
        var cancel = await _host.Admin.PostAsync(new Uri($"/api/v1/rollouts/{id}/cancel", UriKind.Relative), null);
        Assert.True(cancel.IsSuccessStatusCode, await cancel.Content.ReadAsStringAsync());
        var cancelled = await cancel.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Cancelled", cancelled.GetProperty("state").GetString());
        Assert.Contains("1 node(s) were rebuilding", cancelled.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await _host.Admin.GetAsync(new Uri("/api/v1/rollouts/nope", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Cli_PromoteThenRollbackWithRollout_FollowsEachToCompletion()
    {
        await StartHostAsync();
        var a = await AddNodeAsync("node-a", "52:54:00:15:25:01");
        string[] common = ["--server", _host.Http.BaseAddress!.ToString(), $"--Kldload:DataDir={_dir}"];

        var (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, ["image", "promote", "live", "2", "--channel", "stable", "--rollout", "--timeout", "60s", .. common]);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("channel stable live 1 -> live 2; 1 node(s) in 1 wave(s) of 1", stdout, StringComparison.Ordinal);
        Assert.Contains("wave 1/1 node-a: Ready (boot to mesh", stdout, StringComparison.Ordinal);
        Assert.Contains("Completed: 1 node(s) Ready on live 2", stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, ["image", "rollback", "--channel", "stable", "--rollout", .. common]);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("channel stable live 2 -> live 1", stdout, StringComparison.Ordinal);
        Assert.Contains("Completed: 1 node(s) Ready on live 1", stdout, StringComparison.Ordinal);
        Assert.Equal("live 1", (await NodeAsync(a.Mac)).GetProperty("lastBootedImage").GetString());

        (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, ["image", "rollout", "list", .. common]);
        Assert.True(code == 0, stderr);
        Assert.Equal(2, stdout.Split('\n').Count(l => l.Contains("Completed", StringComparison.Ordinal)));

        (code, _, stderr) = await KldloadProcess.RunAsync(_dir, ["image", "promote", "live", "2", "--channel", "stable", "--max-unavailable", "2", .. common]);
        Assert.Equal(2, code);
        Assert.Contains("--max-unavailable needs --rollout", stderr, StringComparison.Ordinal);
    }

    private string[] HostSettings { get; set; } = [];

    private async Task StartHostAsync(params string[] extra)
    {
        HostSettings = ["--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab", .. extra];
        _host = await TestHost.StartAsync(_dir, null, HostSettings);
        var store = _host.Service<LiveImageStore>();
        foreach (var version in new[] { "1", "2" })
        {
            var src = Directory.CreateDirectory(Path.Combine(_dir, "src-" + version)).FullName;
            await File.WriteAllBytesAsync(Path.Combine(src, "kernel"), RandomNumberGenerator.GetBytes(4096));
            await File.WriteAllBytesAsync(Path.Combine(src, "initrd"), RandomNumberGenerator.GetBytes(4096));
            await store.ImportDirectoryAsync(src, new DirectoryImportOptions { Name = "live", Version = version, CommandLine = "console=ttyS0" }, "test");
        }

        store.Catalog.Promote("stable", new ImageKey("live", "1"), "test");
    }

    /// <summary>A node Ready on live 1 with its BMC set, and the machine that boots it when the BMC powers it on.</summary>
    private async Task<Machine> AddNodeAsync(string name, string mac)
    {
        var machine = new Machine(mac, new SwtpmNode(), await IpmiSim.StartAsync(poweredOn: true), () => _host);
        _machines.Add(machine);
        await Agent.AttestAsync(_host.Http, machine.Tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        var renamed = await _host.Admin.PatchAsJsonAsync(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative), new NodePatch(name, null));
        Assert.True(renamed.IsSuccessStatusCode, await renamed.Content.ReadAsStringAsync());
        var bmc = await _host.Admin.PutAsJsonAsync(new Uri($"/api/v1/nodes/{mac}/bmc", UriKind.Relative), new BmcSetRequest("ipmi", "127.0.0.1", machine.Sim.Port, IpmiSim.User, IpmiSim.Password, null, null));
        Assert.True(bmc.IsSuccessStatusCode, await bmc.Content.ReadAsStringAsync());
        var node = await NodeAsync(mac);
        Assert.True(node.GetProperty("state").GetString() == "Ready" && node.GetProperty("lastBootedImage").GetString() == "live 1", node.ToString());
        machine.Watch();
        return machine;
    }

    private async Task<JsonElement> StartRolloutAsync(RolloutRequest request)
    {
        var response = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/rollouts", UriKind.Relative), request);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private async Task<JsonElement> RolloutAsync(string id) =>
        await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/rollouts/{id}", UriKind.Relative));

    private Task<JsonElement> WaitForEndAsync(string id, TimeSpan timeout) => WaitForStateAsync(id, null, timeout);

    private async Task<JsonElement> WaitForStateAsync(string id, string? state, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var r = await RolloutAsync(id);
            var now = r.GetProperty("state").GetString();
            if (state is null ? now != "Running" : now == state)
            {
                return r;
            }

            Assert.True(clock.Elapsed < timeout, $"rollout {id} still {now}: {r}; machines: {string.Join("; ", _machines.SelectMany(m => m.Errors))}");
            await Task.Delay(200);
        }
    }

    private async Task<JsonElement> NodeAsync(string mac) =>
        await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < timeout, "condition not met in time");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// A machine wired to its BMC: each time ipmi_sim's chassis script turns the power on again, it
    /// boots from the network and attests (unless the test holds it, keeps a boot dark, or changed its
    /// firmware). Whatever goes wrong on its side is kept in <see cref="Errors"/>.
    /// </summary>
    private sealed class Machine(string mac, SwtpmNode tpm, IpmiSim sim, Func<TestHost> host) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Task _loop = Task.CompletedTask;

        public string Mac { get; } = mac;

        public SwtpmNode Tpm { get; } = tpm;

        public IpmiSim Sim { get; } = sim;

        public volatile bool Hold;

        public volatile bool DriftFirmware;

        public int DarkBoots;

        public int PowerOns { get; private set; }

        public DateTime FirstPowerOnAt { get; private set; } = DateTime.MaxValue;

        public DateTime ReadyAt { get; private set; } = DateTime.MaxValue;

        public List<string> Errors { get; } = [];

        public void Watch() => _loop = Task.Run(async () =>
        {
            var booted = 0;
            while (!_stop.IsCancellationRequested)
            {
                var ons = Sim.ControlLog.Count(l => l == "power 1");
                if (ons > PowerOns)
                {
                    PowerOns = ons;
                    if (FirstPowerOnAt == DateTime.MaxValue)
                    {
                        FirstPowerOnAt = DateTime.UtcNow;
                    }
                }

                if (booted < PowerOns && !Hold)
                {
                    booted = PowerOns;
                    if (DarkBoots > 0)
                    {
                        DarkBoots--;
                    }
                    else
                    {
                        await BootAsync();
                    }
                }

                await Task.Delay(100);
            }
        });

        private async Task BootAsync()
        {
            try
            {
                if (DriftFirmware)
                {
                    var psi = new ProcessStartInfo("tpm2_pcrextend", $"0:sha256={new string('1', 64)}") { RedirectStandardError = true, UseShellExecute = false };
                    psi.Environment["TPM2TOOLS_TCTI"] = Tpm.Tcti;
                    using var p = Process.Start(psi)!;
                    await p.WaitForExitAsync();
                    if (p.ExitCode != 0)
                    {
                        Errors.Add("tpm2_pcrextend: " + await p.StandardError.ReadToEndAsync());
                    }
                }

                var http = host().Http;
                var token = await Agent.BootTokenAsync(http, Mac);
                var body = await Agent.AttestAsync(http, Tpm, token, Mac);
                if (body.GetProperty("state").GetString() != "Quarantined" || !DriftFirmware)
                {
                    ReadyAt = DateTime.UtcNow;
                }
            }
#pragma warning disable CA1031 // the test reads the machine's errors
            catch (Exception e)
#pragma warning restore CA1031
            {
                Errors.Add(e.Message);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
            await Sim.DisposeAsync();
            Tpm.Dispose();
        }
    }
}
