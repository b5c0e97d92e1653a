using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// The profile's install block (issue 20) against the real host (LiteDB) and a real swtpm: the admin
/// API refuses a bad block with every problem in one answer, keeps a good one as written, and hands it
/// to the node in the answer to ready (the attested mesh step), with <c>Install:KeepEnvironments</c>.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class InstallRequestTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-install-").FullName;
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

    private async Task StartAsync(params string[] settings)
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        _host = await TestHost.StartAsync(_dir, images, ["--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab", .. settings]);
    }

    private async Task<HttpResponseMessage> PutProfileAsync(string name, string mac, object install) =>
        await Host.Admin.PutAsJsonAsync(new Uri($"/api/v1/profiles/{name}", UriKind.Relative), new { match = new { macs = new[] { mac } }, install });

    private async Task<JsonElement> ReadyAsync(string mac)
    {
        using var node = new SwtpmNode();
        var token = await Agent.BootTokenAsync(Host.Http, mac);
        using var session = await Agent.BeginAsync(Host.Http, node, token, mac);
        var (_, wg) = node.WireGuardKey();
        var q = await Agent.PostAsync(Host.Http, "quote", Agent.BuildQuote(session.Tpm, session.Ek, session.Ak, session.SessionId, session.Nonce, wg));
        Assert.True(q.IsSuccessStatusCode, await q.Content.ReadAsStringAsync());
        var proof = Agent.Proof(session.Ek, session.Ak, await q.Content.ReadFromJsonAsync<JsonElement>(), session.SessionId);
        var a = await Agent.PostAsync(Host.Http, "activate", new { sessionId = session.SessionId, proof });
        Assert.True(a.IsSuccessStatusCode, await a.Content.ReadAsStringAsync());
        var ready = await Agent.PostAsync(Host.Http, "ready", new { sessionId = session.SessionId });
        Assert.True(ready.IsSuccessStatusCode, await ready.Content.ReadAsStringAsync());
        return await ready.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task PutProfile_BadInstallBlock_Is422WithEveryProblemAtOnce()
    {
        await StartAsync();
        var r = await PutProfileAsync("bad", "52:54:00:1a:00:01", new { target = "ext4-root", disks = new[] { "/dev/vda", "sdb", "/dev/vda", "/dev/disk/by-id/ata-X-part1" } });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, r.StatusCode);
        var detail = (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString()!;
        Assert.Contains("install.target 'ext4-root'", detail, StringComparison.Ordinal);
        Assert.Contains("install.disks 'sdb': not a whole-disk path", detail, StringComparison.Ordinal);
        Assert.Contains("install.disks '/dev/disk/by-id/ata-X-part1': not a whole-disk path", detail, StringComparison.Ordinal);
        Assert.Contains("install.disks '/dev/vda': named 2 times", detail, StringComparison.Ordinal);

        var empty = await PutProfileAsync("bad", "52:54:00:1a:00:01", new { target = "zfs-root", disks = Array.Empty<string>() });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, empty.StatusCode);
        Assert.Contains("install.disks: name at least one disk", await empty.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var every = await PutProfileAsync("bad", "52:54:00:1a:00:01", new { target = "zfs-root", disks = "every" });
        Assert.Equal("install.disks 'every': a list of disks or \"auto\"", (await every.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await Host.Admin.GetAsync(new Uri("/api/v1/profiles/bad", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task PutProfile_AutoAndListedDisks_ReadBackAsWritten()
    {
        await StartAsync();
        Assert.True((await PutProfileAsync("auto", "52:54:00:1a:00:02", new { target = "zfs-root", disks = "auto" })).IsSuccessStatusCode);
        Assert.True((await PutProfileAsync("listed", "52:54:00:1a:00:03", new { target = "zfs-root", disks = new[] { "/dev/vda", "/dev/disk/by-id/virtio-SN2" } })).IsSuccessStatusCode);

        var auto = await Host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/profiles/auto", UriKind.Relative));
        var listed = await Host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/profiles/listed", UriKind.Relative));

        Assert.Equal("auto", auto.GetProperty("install").GetProperty("disks").GetString());
        Assert.Equal(["/dev/vda", "/dev/disk/by-id/virtio-SN2"], listed.GetProperty("install").GetProperty("disks").EnumerateArray().Select(d => d.GetString()));
    }

    [Fact]
    public async Task Ready_ProfileWithInstall_AnswerCarriesTheRequestAndKeepEnvironments()
    {
        await StartAsync("--Install:KeepEnvironments=5");
        Assert.True((await PutProfileAsync("zfs", "52:54:00:1a:00:04", new { target = "zfs-root", disks = new[] { "/dev/vda", "/dev/vdb" } })).IsSuccessStatusCode);

        var installing = await ReadyAsync("52:54:00:1a:00:04");
        var live = await ReadyAsync("52:54:00:1a:00:05");

        var install = installing.GetProperty("install");
        Assert.Equal(("zfs-root", false, 5), (install.GetProperty("target").GetString(), install.GetProperty("autoDisks").GetBoolean(), install.GetProperty("keepEnvironments").GetInt32()));
        Assert.Equal(["/dev/vda", "/dev/vdb"], install.GetProperty("disks").EnumerateArray().Select(d => d.GetString()));
        Assert.Equal(JsonValueKind.Null, live.TryGetProperty("install", out var none) ? none.ValueKind : JsonValueKind.Null);
    }
}
