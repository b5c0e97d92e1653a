using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Kldload.Facts;
using Kldload.Facts.Canonical;
using Kldload.Provisioner.Tests.Attestation;

namespace Kldload.Provisioner.Tests.Dashboard;

/// <summary>
/// <c>GET /api/v1/nodes/{id}/approval</c> for a node that waits in Enrolling shows the facts it sent
/// with the attestation that left it waiting (real host, LiteDB sessions, swtpm): bound when its quote
/// covered them, claimed when it did not, gone once the node is admitted and its facts are recorded.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class ApprovalFactsTests : IAsyncLifetime
{
    private const string Facts = """{"schema":1,"system":{"manufacturer":"kldload","product":"swtpm box","serial":"KLD-APPROVE-1"},"memory":{"totalGiB":2,"totalBytes":2147483648,"dimms":[]}}""";

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-approvefacts-").FullName;
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        _host = await TestHost.StartAsync(_dir, images, "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Approve");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Approval_EnrollingNodeWithBoundFacts_ShowsThemAsBoundUntilAdmitted()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:73:00:01";
        Assert.Equal("Enrolling", await AttestAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac, Facts, bind: true));

        var a = await ApprovalAsync(mac);
        Assert.Equal("Enrolling", a.GetProperty("state").GetString());
        Assert.Equal("bound", a.GetProperty("sentFactsTrust").GetString());
        Assert.Equal("KLD-APPROVE-1", a.GetProperty("sentFacts").GetProperty("system").GetProperty("serial").GetString());
        Assert.Equal(JsonValueKind.String, a.GetProperty("sentFactsAt").ValueKind);
        Assert.Equal(JsonValueKind.Null, a.GetProperty("facts").ValueKind); // recorded only once admitted

        Assert.True((await _host.Admin.PostAsync(new Uri($"/api/v1/nodes/{mac}/approve", UriKind.Relative), null)).IsSuccessStatusCode);
        Assert.Equal("Ready", await AttestAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac, Facts, bind: true));
        var admitted = await ApprovalAsync(mac);
        Assert.Equal(JsonValueKind.Null, admitted.GetProperty("sentFacts").ValueKind);
        Assert.Equal(JsonValueKind.Null, admitted.GetProperty("sentFactsTrust").ValueKind);
        Assert.Equal("KLD-APPROVE-1", admitted.GetProperty("facts").GetProperty("system").GetProperty("serial").GetString());
    }

    [Fact]
    public async Task Approval_EnrollingNodeWithUnboundFacts_ShowsThemAsClaimed()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:73:00:02";
        Assert.Equal("Enrolling", await AttestAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac, Facts, bind: false));

        var a = await ApprovalAsync(mac);
        Assert.Equal("claimed", a.GetProperty("sentFactsTrust").GetString());
        Assert.Equal("swtpm box", a.GetProperty("sentFacts").GetProperty("system").GetProperty("product").GetString());
    }

    [Fact]
    public async Task Approval_QuoteNeverActivated_NoFactsShown()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:73:00:03";
        Assert.Equal("Enrolling", await AttestAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac, null, bind: false));

        // A second quote with facts under the same EK whose credential is never activated: unproven, not shown.
        using (var session = await Agent.BeginAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac))
        {
            var body = Agent.BuildQuote(session.Tpm, session.Ek, session.Ak, session.SessionId, session.Nonce, tpm.WireGuardKey().Public);
            body["eventLog"] = Convert.ToBase64String(EventLogs.EmptySha256());
            using var facts = JsonDocument.Parse(Facts);
            body["facts"] = facts.RootElement.Clone();
            Assert.True((await Agent.PostAsync(_host.Http, "quote", body)).IsSuccessStatusCode);
        }

        var a = await ApprovalAsync(mac);
        Assert.Equal(JsonValueKind.Null, a.GetProperty("sentFacts").ValueKind);
    }

    private async Task<JsonElement> ApprovalAsync(string mac) =>
        await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}/approval", UriKind.Relative));

    /// <summary>
    /// One attestation as the agent makes it (an empty event log, as <c>AttestationFlowTests</c>), sending <paramref name="facts"/> (none when null) with the
    /// quote, bound into its qualifying data when <paramref name="bind"/>; posts ready when Attested and
    /// returns the node's state after.
    /// </summary>
    internal static async Task<string> AttestAsync(HttpClient http, SwtpmNode tpm, string token, string mac, string? facts, bool bind)
    {
        using var session = await Agent.BeginAsync(http, tpm, token, mac);
        var wg = tpm.WireGuardKey().Public;
        var qualifying = facts is not null && bind
            ? FactsBinding.Bound(session.Nonce, wg, FactsBinding.DigestOfCanonical(JsonCanonicalizer.Canonicalize(Encoding.UTF8.GetBytes(facts))))
            : null;
        var body = Agent.BuildQuote(session.Tpm, session.Ek, session.Ak, session.SessionId, session.Nonce, wg, qualifying);
        body["eventLog"] = Convert.ToBase64String(EventLogs.EmptySha256());
        if (facts is not null)
        {
            using var document = JsonDocument.Parse(facts);
            body["facts"] = document.RootElement.Clone();
        }

        var quote = await Agent.PostAsync(http, "quote", body);
        Assert.True(quote.IsSuccessStatusCode, await quote.Content.ReadAsStringAsync());
        var proof = Agent.Proof(session.Ek, session.Ak, await quote.Content.ReadFromJsonAsync<JsonElement>(), session.SessionId);
        var activate = await Agent.PostAsync(http, "activate", new { sessionId = session.SessionId, proof });
        Assert.True(activate.IsSuccessStatusCode, await activate.Content.ReadAsStringAsync());
        var state = (await activate.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString()!;
        if (state != "Attested")
        {
            return state;
        }

        var ready = await Agent.PostAsync(http, "ready", new { sessionId = session.SessionId });
        Assert.True(ready.IsSuccessStatusCode, await ready.Content.ReadAsStringAsync());
        return "Ready";
    }
}
