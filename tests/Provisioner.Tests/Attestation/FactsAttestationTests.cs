using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Kldload.Facts;
using Kldload.Facts.Canonical;
using Kldload.Tpm.Device;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// Facts bound into the quote, against a real swtpm and the real host (LiteDB): tampering after the
/// quote is refused, the older form stores them unbound, a changed disk between two attested boots is
/// an event and a metric, and <c>Inventory:HardwareChange=Quarantine</c> holds the node.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class FactsAttestationTests : IAsyncDisposable
{
    private const string SecondDisk = """,{"name":"nvme1n1","serial":"KLD-NVME-2","sizeBytes":1073741824,"rotational":false,"transport":"nvme"}""";

    private const string TwoDisks = """{"schema":1,"system":{"serial":"KLD-SERIAL-1"},"memory":{"totalGiB":1.5,"totalBytes":1610612736,"dimms":[]},"disks":[{"name":"nvme0n1","serial":"KLD-NVME-1","sizeBytes":1073741824,"rotational":false,"transport":"nvme"}""" + SecondDisk + "]}";

    private static readonly string OneDisk = TwoDisks.Replace(SecondDisk, string.Empty, StringComparison.Ordinal);

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-facts-").FullName;
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
        images.Channels["big"] = FixedImages.Image("live-big", "9");
        _host = await TestHost.StartAsync(_dir, images, ["--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab", .. settings]);
    }

    /// <summary>One attestation: the quote binds <paramref name="quoted"/> (or uses the older form when null) and the request carries <paramref name="sent"/>.</summary>
    private async Task<(HttpResponseMessage Quote, HttpResponseMessage? Activate)> AttestAsync(SwtpmNode node, string mac, string? quoted, string? sent)
    {
        var token = await Agent.BootTokenAsync(Host.Http, mac);
        using var tpm = node.Connect();
        using var ek = EndorsementKey.Create(tpm, EkKind.RsaL1);
        using var ak = AttestationKey.Create(tpm, ek, TpmTemplates.AkRsa2048());
        var (_, wg) = node.WireGuardKey();
        var (sessionId, nonce) = await Agent.ChallengeAsync(Host.Http, token, mac);
        var qualifying = quoted is null ? null : FactsBinding.Bound(nonce, wg, FactsBinding.DigestOfCanonical(JsonCanonicalizer.Canonicalize(Encoding.UTF8.GetBytes(quoted))));
        var body = Agent.BuildQuote(tpm, ek, ak, sessionId, nonce, wg, qualifying);
        if (sent is not null)
        {
            using var facts = JsonDocument.Parse(sent);
            body["facts"] = facts.RootElement.Clone();
        }

        var q = await Agent.PostAsync(Host.Http, "quote", body);
        if (!q.IsSuccessStatusCode)
        {
            return (q, null);
        }

        var proof = Agent.Proof(ek, ak, await q.Content.ReadFromJsonAsync<JsonElement>(), sessionId);
        return (q, await Agent.PostAsync(Host.Http, "activate", new { sessionId, proof }));
    }

    private async Task AttestOkAsync(SwtpmNode node, string mac, string? quoted, string? sent)
    {
        var (q, a) = await AttestAsync(node, mac, quoted, sent);
        Assert.True(q.IsSuccessStatusCode, await q.Content.ReadAsStringAsync());
        Assert.True(a!.IsSuccessStatusCode, await a.Content.ReadAsStringAsync());
    }

    private async Task<JsonElement> AdminAsync(string path) => await Host.Admin.GetFromJsonAsync<JsonElement>(new Uri(path, UriKind.Relative));

    private async Task<List<JsonElement>> EventsAsync(string mac, string reason) =>
        [.. (await AdminAsync($"/api/v1/nodes/{mac}/events")).EnumerateArray().Where(e => e.GetProperty("reason").GetString() == reason)];

    private async Task<double> MetricAsync(string part)
    {
        var text = await Host.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith($"kldload_hardware_changes_total{{part=\"{part}\"}}", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Quote_OneFactTamperedAfterQuoting_RefusedAndNothingStored()
    {
        await StartAsync();
        using var node = new SwtpmNode();
        const string mac = "52:54:00:f0:00:01";
        var (quote, _) = await AttestAsync(node, mac, TwoDisks, TwoDisks.Replace("\"totalGiB\":1.5", "\"totalGiB\":512", StringComparison.Ordinal));
        Assert.False(quote.IsSuccessStatusCode);
        Assert.Contains("facts", await quote.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var shown = await AdminAsync($"/api/v1/nodes/{mac}");
        Assert.Equal(JsonValueKind.Null, shown.GetProperty("facts").ValueKind);

        // The same facts, untampered and reformatted (member order, spacing): bound and stored as the canonical form.
        await AttestOkAsync(node, mac, TwoDisks, " { \"schema\" : 1, " + TwoDisks.TrimStart()[1..].Replace("\"schema\":1,", string.Empty, StringComparison.Ordinal));
        var hardware = await AdminAsync($"/api/v1/nodes/{mac}/hardware");
        Assert.True(hardware.GetProperty("bound").GetBoolean());
        Assert.Equal(Encoding.UTF8.GetString(JsonCanonicalizer.Canonicalize(Encoding.UTF8.GetBytes(TwoDisks))), hardware.GetProperty("facts").GetRawText());
    }

    [Fact]
    public async Task Quote_OlderFormWithFacts_StoredUnboundAndNeverCompared()
    {
        await StartAsync("--Inventory:HardwareChange=Quarantine");
        using var node = new SwtpmNode();
        const string mac = "52:54:00:f0:00:02";
        await AttestOkAsync(node, mac, quoted: null, sent: TwoDisks);
        await AttestOkAsync(node, mac, quoted: null, sent: OneDisk); // a "change", but unproven: no event, no hold

        var shown = await AdminAsync($"/api/v1/nodes/{mac}");
        Assert.False(shown.GetProperty("factsBound").GetBoolean());
        Assert.Equal("Attested", shown.GetProperty("state").GetString());
        Assert.Equal(2, (await EventsAsync(mac, "facts-unbound")).Count);
        Assert.Empty(await EventsAsync(mac, "hardware-change"));
        Assert.Equal(2, (await AdminAsync($"/api/v1/nodes/{mac}/hardware")).GetProperty("history").GetArrayLength());
    }

    [Fact]
    public async Task Attest_DiskGoneBetweenTwoBoots_EventNamesItAndMetricCounts()
    {
        await StartAsync();
        using var node = new SwtpmNode();
        const string mac = "52:54:00:f0:00:03";
        await AttestOkAsync(node, mac, TwoDisks, TwoDisks);
        await AttestOkAsync(node, mac, TwoDisks, TwoDisks); // same hardware: nothing to say
        Assert.Empty(await EventsAsync(mac, "hardware-change"));
        var before = await MetricAsync("disk");

        await AttestOkAsync(node, mac, OneDisk, OneDisk);
        var change = Assert.Single(await EventsAsync(mac, "hardware-change"));
        Assert.Contains("disk serial KLD-NVME-2 missing", change.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(before + 1, await MetricAsync("disk"));
        Assert.Equal("Attested", (await AdminAsync($"/api/v1/nodes/{mac}")).GetProperty("state").GetString()); // Record: the node boots on
        Assert.Equal(3, (await AdminAsync($"/api/v1/nodes/{mac}/hardware")).GetProperty("history").GetArrayLength());
    }

    [Fact]
    public async Task Attest_HardwareChangeQuarantine_NodeHeldUntilApproved()
    {
        await StartAsync("--Inventory:HardwareChange=Quarantine");
        using var node = new SwtpmNode();
        const string mac = "52:54:00:f0:00:04";
        await AttestOkAsync(node, mac, TwoDisks, TwoDisks);

        var (quote, activate) = await AttestAsync(node, mac, OneDisk, OneDisk);
        Assert.True(quote.IsSuccessStatusCode);
        Assert.False(activate!.IsSuccessStatusCode);
        Assert.Contains("hardware-change", await activate.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var held = await AdminAsync($"/api/v1/nodes/{mac}");
        Assert.Equal("Quarantined", held.GetProperty("state").GetString());
        Assert.Contains("disk serial KLD-NVME-2 missing", held.GetProperty("stateReason").GetString(), StringComparison.Ordinal);

        // Another boot does not get through on its own.
        var (_, again) = await AttestAsync(node, mac, OneDisk, OneDisk);
        Assert.False(again!.IsSuccessStatusCode);

        var approve = await Host.Admin.PostAsync(new Uri($"/api/v1/nodes/{mac}/approve", UriKind.Relative), null);
        Assert.True(approve.IsSuccessStatusCode, await approve.Content.ReadAsStringAsync());
        await AttestOkAsync(node, mac, OneDisk, OneDisk); // the approved hardware is the new reference
        Assert.Equal("Attested", (await AdminAsync($"/api/v1/nodes/{mac}")).GetProperty("state").GetString());
    }

    [Fact]
    public async Task BootScript_ProfileOnFacts_TakesEffectFromTheBootAfterTheFactsWereBound()
    {
        await StartAsync();
        var put = await Host.Admin.PutAsJsonAsync(new Uri("/api/v1/profiles/big-memory", UriKind.Relative),
            new { priority = 10, match = new { facts = new[] { "facts.memory.totalGiB >= 1.4" } }, channel = "big" });
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        var raising = await Host.Admin.PutAsJsonAsync(new Uri("/api/v1/profiles/big-lab", UriKind.Relative),
            new { match = new { facts = new[] { "facts.memory.totalGiB >= 1.4" } }, enrollmentPolicy = "Lab" });
        Assert.Equal(422, (int)raising.StatusCode); // facts never raise trust
        var malformed = await Host.Admin.PutAsJsonAsync(new Uri("/api/v1/profiles/broken", UriKind.Relative),
            new { match = new { facts = new[] { "memory.totalGiB >= 1.4" } }, channel = "big" });
        Assert.Equal(422, (int)malformed.StatusCode);

        using var node = new SwtpmNode();
        const string mac = "52:54:00:f0:00:06";
        Task<string> ScriptAsync() => Host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&arch=x86_64", UriKind.Relative));

        Assert.Contains("boots live 1", await ScriptAsync(), StringComparison.Ordinal); // no facts yet
        await AttestOkAsync(node, mac, quoted: null, sent: TwoDisks); // unbound: never matched
        Assert.Contains("boots live 1", await ScriptAsync(), StringComparison.Ordinal);
        await AttestOkAsync(node, mac, TwoDisks, TwoDisks); // bound, 1.5 GiB
        Assert.Contains("boots live-big 9", await ScriptAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quote_FactsOverTheLimit_RefusedNamingIt()
    {
        await StartAsync();
        using var node = new SwtpmNode();
        const string mac = "52:54:00:f0:00:05";
        var huge = "{\"schema\":1,\"pci\":[" + string.Join(',', Enumerable.Range(0, 200).Select(i => $"{{\"address\":\"{i}\",\"note\":\"{new string('x', 400)}\"}}")) + "]}";
        var (quote, _) = await AttestAsync(node, mac, huge, huge);
        Assert.False(quote.IsSuccessStatusCode);
        var problem = await quote.Content.ReadAsStringAsync();
        Assert.Contains("facts-refused", problem, StringComparison.Ordinal);
        Assert.Contains(FactsLimits.MaxCanonicalBytes.ToString(CultureInfo.InvariantCulture), problem, StringComparison.Ordinal);
    }
}
