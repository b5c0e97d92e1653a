using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kldload.MeshCA;
using Kldload.Tpm.Device;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// <c>kldload nodes rotate-key</c> end to end against swtpm: the challenge names the next key epoch,
/// the node's new key takes the same address, and the old key is refused. <c>nodes repin</c> puts
/// <c>kldload.repin=1</c> on the command line until the node attests.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class KeyRotationTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-rotate-").FullName;
    private readonly FixedImages _images = new();
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        _images.Channels["stable"] = FixedImages.Image("live", "1");
        _host = await TestHost.StartAsync(_dir, _images, "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<JsonElement> NodeAsync(string key) =>
        await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{key}", UriKind.Relative));

    /// <summary>Attests with the key of <paramref name="epoch"/> (or the challenge's when null); returns the challenge's epoch and the activate response.</summary>
    private async Task<(uint ChallengeEpoch, HttpResponseMessage Activate)> AttestAtAsync(SwtpmNode tpm, string mac, uint? epoch)
    {
        var token = await Agent.BootTokenAsync(_host.Http, mac);
        var c = await Agent.PostAsync(_host.Http, "challenge", new { bootToken = token, mac });
        var challenge = await c.Content.ReadFromJsonAsync<JsonElement>();
        var keyEpoch = challenge.GetProperty("keyEpoch").GetUInt32();
        var sessionId = challenge.GetProperty("sessionId").GetString()!;
        var nonce = Convert.FromBase64String(challenge.GetProperty("nonce").GetString()!);
        using var t = tpm.Connect();
        using var ek = EndorsementKey.Create(t, EkKind.RsaL1);
        using var ak = AttestationKey.Create(t, ek, TpmTemplates.AkRsa2048());
        var q = await Agent.PostAsync(_host.Http, "quote", Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey(epoch ?? keyEpoch).Public));
        Assert.True(q.IsSuccessStatusCode, await q.Content.ReadAsStringAsync());
        var proof = Agent.Proof(ek, ak, await q.Content.ReadFromJsonAsync<JsonElement>(), sessionId);
        return (keyEpoch, await Agent.PostAsync(_host.Http, "activate", new { sessionId, proof }));
    }

    [Fact]
    public async Task RotateKey_NextBootDerivesNextEpoch_SameAddressOldKeyRefused()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:7e:00:01";
        var (epoch0, first) = await AttestAtAsync(tpm, mac, null);
        Assert.Equal(0u, epoch0);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var before = await NodeAsync(mac);
        var id = before.GetProperty("id").GetString()!;
        var oldKey = tpm.WireGuardKey(0).Public;

        var rotated = await _host.Admin.PostAsync(new Uri($"/api/v1/nodes/{id}/rotate-key", UriKind.Relative), null);
        Assert.True(rotated.IsSuccessStatusCode, await rotated.Content.ReadAsStringAsync());
        Assert.DoesNotContain(_host.Service<MeshIdentityService>().Roster.Members, m => m.NodeId == id && m.PublicKey.AsSpan().SequenceEqual(oldKey));

        // A node that keeps the old key is refused: it is on the denylist.
        var (epoch1, stale) = await AttestAtAsync(tpm, mac, 0);
        Assert.Equal(1u, epoch1);
        Assert.Equal(HttpStatusCode.Forbidden, stale.StatusCode);
        Assert.Equal("mesh-refused", (await stale.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());

        // The agent takes the epoch from the challenge: new key, same address.
        var (_, fresh) = await AttestAtAsync(tpm, mac, null);
        Assert.True(fresh.IsSuccessStatusCode, await fresh.Content.ReadAsStringAsync());
        var after = await NodeAsync(mac);
        Assert.Equal(before.GetProperty("meshAddress").GetString(), after.GetProperty("meshAddress").GetString());
        Assert.Equal(Convert.ToBase64String(tpm.WireGuardKey(1).Public), after.GetProperty("wireguardPublicKey").GetString());
        Assert.NotEqual(before.GetProperty("wireguardPublicKey").GetString(), after.GetProperty("wireguardPublicKey").GetString());
    }

    [Fact]
    public async Task Repin_NextScriptCarriesFlagUntilTheNodeAttests()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:7e:00:02";
        await AttestAtAsync(tpm, mac, null);
        Assert.DoesNotContain("kldload.repin=1", await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative)), StringComparison.Ordinal);

        var r = await _host.Admin.PostAsync(new Uri($"/api/v1/nodes/{mac}/repin", UriKind.Relative), null);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        Assert.Contains("kldload.repin=1", await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative)), StringComparison.Ordinal);

        var (_, activated) = await AttestAtAsync(tpm, mac, null);
        Assert.True(activated.IsSuccessStatusCode, await activated.Content.ReadAsStringAsync());
        Assert.DoesNotContain("kldload.repin=1", await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative)), StringComparison.Ordinal);
    }
}
