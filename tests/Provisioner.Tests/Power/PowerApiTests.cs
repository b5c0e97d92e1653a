using System.Net;
using System.Net.Http.Json;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Cli;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Tests.Power;

/// <summary>Bad input to the power API, and the rebuild's judgement of a node's history.</summary>
[Trait("Tier", "Integration")]
public sealed class PowerApiTests : IAsyncLifetime
{
    private const string Mac = "52:54:00:15:20:01";
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-powerapi-").FullName;
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await TestHost.StartAsync(_dir);
        await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={Mac}&platform=efi", UriKind.Relative));
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task PutBmc_EverythingWrong_422ListingEveryProblemAndNothingStored()
    {
        var response = await _host.Admin.PutAsJsonAsync(new Uri($"/api/v1/nodes/{Mac}/bmc", UriKind.Relative), new BmcSetRequest("snmp", " ", null, null, null, null, null));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var detail = await response.Content.ReadAsStringAsync();
        Assert.Contains("protocol 'snmp'", detail, StringComparison.Ordinal);
        Assert.Contains("user is required", detail, StringComparison.Ordinal);
        Assert.Contains("password is required", detail, StringComparison.Ordinal);
        Assert.Contains("address is required", detail, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await _host.Admin.GetAsync(new Uri($"/api/v1/nodes/{Mac}/bmc", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task PutBmc_RedfishWithoutSystemAndBadFingerprint_422()
    {
        var response = await _host.Admin.PutAsJsonAsync(new Uri($"/api/v1/nodes/{Mac}/bmc", UriKind.Relative), new BmcSetRequest("redfish", "ftp://bmc", null, "root", "pw", null, "12:34"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var detail = await response.Content.ReadAsStringAsync();
        Assert.Contains("https:// URL", detail, StringComparison.Ordinal);
        Assert.Contains("systemId is required", detail, StringComparison.Ordinal);
        Assert.Contains("not a SHA-256 fingerprint", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PutBmc_IpmiPasswordOver20Bytes_422()
    {
        var response = await _host.Admin.PutAsJsonAsync(new Uri($"/api/v1/nodes/{Mac}/bmc", UriKind.Relative), new BmcSetRequest("ipmi", "127.0.0.1", 70000, "admin", new string('p', 21), null, null));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var detail = await response.Content.ReadAsStringAsync();
        Assert.Contains("at most 20 bytes", detail, StringComparison.Ordinal);
        Assert.Contains("port 70000", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Power_UnknownActionOrNoBmc_ClearProblem()
    {
        var bad = await _host.Admin.PostAsJsonAsync(new Uri($"/api/v1/nodes/{Mac}/power", UriKind.Relative), new PowerRequest("reboot"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
        Assert.Contains("use on, off, cycle, status or pxe", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var none = await _host.Admin.PostAsJsonAsync(new Uri($"/api/v1/nodes/{Mac}/power", UriKind.Relative), new PowerRequest("status"));
        Assert.Equal(HttpStatusCode.Conflict, none.StatusCode);
        Assert.Contains("no BMC recorded", await none.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var unknown = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/nodes/no-such-node/power", UriKind.Relative), new PowerRequest("on"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public void Judge_ReadyWithoutAReadyEventSinceTheStart_StillWaiting()
    {
        // Ready from the boot before the rebuild is not the new boot.
        var node = NodeView.From(new NodeRecord { Id = "n1", Name = "n1", State = NodeState.Ready });

        Assert.Equal(RebuildOutcome.Waiting, RebuildCommand.Judge(node, [Event(NodeEventKind.Power, "power cycle sent", "power-cycle")]).Outcome);
        Assert.Equal(RebuildOutcome.Ready, RebuildCommand.Judge(node, [Event(NodeEventKind.StateChange, "Attested -> Ready", "Ready")]).Outcome);
    }

    [Fact]
    public void Judge_QuarantinedOrBmcFailure_Refused()
    {
        var quarantined = NodeView.From(new NodeRecord { Id = "n1", Name = "n1", State = NodeState.Quarantined, StateReason = "PCR 7 changed" });
        var (outcome, why) = RebuildCommand.Judge(quarantined, []);
        Assert.Equal(RebuildOutcome.Refused, outcome);
        Assert.Contains("PCR 7 changed", why, StringComparison.Ordinal);

        var reimaging = NodeView.From(new NodeRecord { Id = "n1", Name = "n1", State = NodeState.Reimaging });
        (outcome, why) = RebuildCommand.Judge(reimaging, [Event(NodeEventKind.Power, "power cycle failed: did not answer", "bmc-unreachable")]);
        Assert.Equal(RebuildOutcome.Refused, outcome);
        Assert.Contains("did not answer", why, StringComparison.Ordinal);
    }

    private static NodeEventView Event(NodeEventKind kind, string message, string? reason) =>
        new(1, "n1", DateTime.UtcNow, kind, message, "admin", reason);
}
