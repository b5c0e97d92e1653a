using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kldload.Tpm.Device;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// Burn-in (issue 16) against the real host (LiteDB) and a real swtpm: the profile's <c>commission.burnIn</c>
/// is validated, reaches the kernel command line as <c>kldload.burnin=SECONDS</c>, and ready records the
/// node's burn-in result: a failed one quarantines the node, a missing one is refused.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class BurnInTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-burnin-").FullName;
    private TestHost? _host;

    private TestHost Host => _host!;

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private async Task StartAsync()
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        _host = await TestHost.StartAsync(_dir, images, ["--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab"]);
    }

    private async Task<HttpResponseMessage> PutProfileAsync(string name, string mac, string burnIn) =>
        await Host.Admin.PutAsJsonAsync(new Uri($"/api/v1/profiles/{name}", UriKind.Relative), new { match = new { macs = new[] { mac } }, commission = new { burnIn } });

    private async Task<JsonElement> AdminAsync(string path) => await Host.Admin.GetFromJsonAsync<JsonElement>(new Uri(path, UriKind.Relative));

    private async Task<List<JsonElement>> EventsAsync(string mac, string reason) =>
        [.. (await AdminAsync($"/api/v1/nodes/{mac}/events")).EnumerateArray().Where(e => e.GetProperty("reason").GetString() == reason)];

    /// <summary>Boots (the script is returned), attests up to Attested and returns the session for ready.</summary>
    private async Task<(string Script, string SessionId)> AttestAsync(SwtpmNode node, string mac)
    {
        var script = await Host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&arch=x86_64", UriKind.Relative));
        var token = script.Split("kldload.token=")[1].Split('\n')[0].Split(' ')[0].Trim();
        using var tpm = node.Connect();
        using var ek = EndorsementKey.Create(tpm, EkKind.RsaL1);
        using var ak = AttestationKey.Create(tpm, ek, TpmTemplates.AkRsa2048());
        var (_, wg) = node.WireGuardKey();
        var (sessionId, nonce) = await Agent.ChallengeAsync(Host.Http, token, mac);
        var q = await Agent.PostAsync(Host.Http, "quote", Agent.BuildQuote(tpm, ek, ak, sessionId, nonce, wg));
        Assert.True(q.IsSuccessStatusCode, await q.Content.ReadAsStringAsync());
        var proof = Agent.Proof(ek, ak, await q.Content.ReadFromJsonAsync<JsonElement>(), sessionId);
        var a = await Agent.PostAsync(Host.Http, "activate", new { sessionId, proof });
        Assert.True(a.IsSuccessStatusCode, await a.Content.ReadAsStringAsync());
        Assert.Equal("Attested", (await a.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
        return (script, sessionId);
    }

    private static object Report(bool passed, int errors, string detail) => new
    {
        passed,
        seconds = 300.2,
        cpuOk = true,
        memoryOk = true,
        disks = new[] { new { name = "nvme0n1", bytesRead = 1073741824L, errors } },
        detail,
    };

    [Fact]
    public async Task PutProfile_BurnInOutsideOneSecondToADayOrMalformed_Is422()
    {
        await StartAsync();
        foreach (var bad in new[] { "0s", "25h", "86401s", "5", "5 minutes", "-5m", "m", "1.5h" })
        {
            var r = await PutProfileAsync("bad", "52:54:00:b0:00:09", bad);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, r.StatusCode);
            Assert.Contains($"burnIn '{bad}'", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await Host.Admin.GetAsync(new Uri("/api/v1/profiles/bad", UriKind.Relative))).StatusCode);
        foreach (var good in new[] { "1s", "5m", "24h", "86400s" })
        {
            var r = await PutProfileAsync("good", "52:54:00:b0:00:09", good);
            Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        }

        Assert.Equal("86400s", (await AdminAsync("/api/v1/profiles/good")).GetProperty("commission").GetProperty("burnIn").GetString());
    }

    [Fact]
    public async Task BootScript_ProfileWithBurnIn_PutsSecondsOnTheCommandLineOfItsNodesOnly()
    {
        await StartAsync();
        Assert.True((await PutProfileAsync("burn", "52:54:00:b0:00:01", "5m")).IsSuccessStatusCode);

        var matching = await Host.Http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:b0:00:01&platform=efi&arch=x86_64", UriKind.Relative));
        var other = await Host.Http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:b0:00:02&platform=efi&arch=x86_64", UriKind.Relative));

        Assert.Contains(" kldload.burnin=300", matching, StringComparison.Ordinal);
        Assert.DoesNotContain("kldload.burnin", other, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ready_FailedBurnIn_QuarantinesWithTheReason()
    {
        await StartAsync();
        const string mac = "52:54:00:b0:00:03";
        Assert.True((await PutProfileAsync("burn", mac, "5m")).IsSuccessStatusCode);
        using var node = new SwtpmNode();
        var (_, sessionId) = await AttestAsync(node, mac);

        var ready = await Agent.PostAsync(Host.Http, "ready", new { sessionId, burnIn = Report(passed: false, errors: 3, "disk nvme0n1: 3 read errors") });

        Assert.True(ready.IsSuccessStatusCode, await ready.Content.ReadAsStringAsync());
        Assert.Equal("Quarantined", (await ready.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
        var shown = await AdminAsync($"/api/v1/nodes/{mac}");
        Assert.Equal("Quarantined", shown.GetProperty("state").GetString());
        Assert.Equal("burn-in-failed: disk nvme0n1: 3 read errors", shown.GetProperty("stateReason").GetString());
        var failed = Assert.Single(await EventsAsync(mac, "burn-in-failed"));
        Assert.Contains("nvme0n1 1073741824 bytes, 3 errors", failed.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Empty(await EventsAsync(mac, "burn-in-passed"));
    }

    [Fact]
    public async Task Ready_DiskErrorsButClaimsPassed_StillQuarantined()
    {
        await StartAsync();
        const string mac = "52:54:00:b0:00:04";
        Assert.True((await PutProfileAsync("burn", mac, "30s")).IsSuccessStatusCode);
        using var node = new SwtpmNode();
        var (_, sessionId) = await AttestAsync(node, mac);

        var ready = await Agent.PostAsync(Host.Http, "ready", new { sessionId, burnIn = Report(passed: true, errors: 1, "all fine") });

        Assert.True(ready.IsSuccessStatusCode, await ready.Content.ReadAsStringAsync());
        Assert.Equal("Quarantined", (await AdminAsync($"/api/v1/nodes/{mac}")).GetProperty("state").GetString());
        Assert.Single(await EventsAsync(mac, "burn-in-failed"));
    }

    [Fact]
    public async Task Ready_BurnInAskedButMissing_RefusedThenPassingOneIsReadyWithTheEvent()
    {
        await StartAsync();
        const string mac = "52:54:00:b0:00:05";
        Assert.True((await PutProfileAsync("burn", mac, "5m")).IsSuccessStatusCode);
        using var node = new SwtpmNode();
        var (script, sessionId) = await AttestAsync(node, mac);
        Assert.Contains("kldload.burnin=300", script, StringComparison.Ordinal);

        var missing = await Agent.PostAsync(Host.Http, "ready", new { sessionId });
        Assert.False(missing.IsSuccessStatusCode);
        Assert.Contains("burn-in-missing", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("Attested", (await AdminAsync($"/api/v1/nodes/{mac}")).GetProperty("state").GetString());

        var ready = await Agent.PostAsync(Host.Http, "ready", new { sessionId, burnIn = Report(passed: true, errors: 0, "cpu 2 cores, memory 512 MiB, 1 disks read without errors") });

        Assert.True(ready.IsSuccessStatusCode, await ready.Content.ReadAsStringAsync());
        Assert.Equal("Ready", (await ready.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
        var passed = Assert.Single(await EventsAsync(mac, "burn-in-passed"));
        Assert.StartsWith("burn-in (self-reported): passed in 300.2 s; cpu ok, memory ok; nvme0n1 1073741824 bytes, 0 errors", passed.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Empty(await EventsAsync(mac, "burn-in-failed"));
    }
}
