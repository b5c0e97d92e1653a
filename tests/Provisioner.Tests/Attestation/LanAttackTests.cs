using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.MeshCA;
using Kldload.Tpm.Device;
using Kldload.Tpm.Structures;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// The attestation issue's attacks, each done as an attacker on the boot LAN would (a machine with
/// a real TPM of its own, any MAC it likes, the victim's public EK), against the real host with
/// swtpm. After each, the victim's record is unchanged and the victim re-attests with no operator step.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class LanAttackTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-lan-").FullName;
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

    private async Task RestartAsync(params string[] overrides)
    {
        await _host.DisposeAsync();
        _host = await TestHost.StartAsync(_dir, _images, ["--Boot:DefaultChannel=stable", .. overrides]);
    }

    private async Task<JsonElement> NodeAsync(string key) =>
        await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{key}", UriKind.Relative));

    private async Task<List<JsonElement>> EventsAsync(string key) =>
        [.. (await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{key}/events", UriKind.Relative))).EnumerateArray()];

    /// <summary>What must never change under an attack: identity, trust, facts and the mesh entry.</summary>
    private async Task<string> VictimAsync(string key)
    {
        var n = await NodeAsync(key);
        string[] fields = ["id", "name", "macs", "state", "uuid", "serial", "manufacturer", "product", "ekFingerprint", "ekApproved", "wireguardPublicKey", "meshAddress", "meshAddress4", "labels"];
        var member = _host.Service<MeshIdentityService>().Roster.Members.FirstOrDefault(m => m.NodeId == n.GetProperty("id").GetString());
        return string.Join('\n', fields.Select(f => $"{f}={n.GetProperty(f).GetRawText()}"))
            + $"\nmember={(member is null ? "none" : Convert.ToBase64String(member.PublicKey) + " " + member.Address6)}";
    }

    private async Task<string> ReadyVictimAsync(SwtpmNode tpm, string mac)
    {
        await Agent.AttestAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        Assert.Equal("Ready", (await NodeAsync(mac)).GetProperty("state").GetString());
        return await VictimAsync(mac);
    }

    private async Task AssertVictimStillAttestsAsync(SwtpmNode tpm, string mac, string before)
    {
        Assert.Equal(before, await VictimAsync(mac));
        var again = await Agent.AttestAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        Assert.Equal("Attested", again.GetProperty("state").GetString());
        Assert.Equal(before, await VictimAsync(mac));
    }

    private static async Task<string?> ReasonAsync(HttpResponseMessage r) =>
        (await r.Content.ReadFromJsonAsync<JsonElement>()).TryGetProperty("reason", out var reason) ? reason.GetString() : null;

    [Fact]
    public async Task Attack1_ScriptAndGarbageQuoteWithVictimMac_VictimUnchanged()
    {
        using var victim = new SwtpmNode();
        const string mac = "52:54:00:a1:00:01";
        var before = await ReadyVictimAsync(victim, mac);

        // Anyone can ask for the victim's script, with facts of its choosing, and open a session.
        var token = (await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&serial=EVIL&uuid=00000000-0000-0000-0000-00000000beef&manufacturer=evil", UriKind.Relative)))
            .Split("kldload.token=")[1].Split([' ', '\n'])[0];
        var (sessionId, _) = await Agent.ChallengeAsync(_host.Http, token, mac);
        var garbage = await Agent.PostAsync(_host.Http, "quote", new
        {
            sessionId,
            ekPublic = Convert.ToBase64String(RandomNumberGenerator.GetBytes(300)),
            akPublic = Convert.ToBase64String(RandomNumberGenerator.GetBytes(300)),
            quote = Convert.ToBase64String(RandomNumberGenerator.GetBytes(100)),
            signature = Convert.ToBase64String(RandomNumberGenerator.GetBytes(260)),
            pcrs = new Dictionary<string, Dictionary<string, string>> { ["sha256"] = [] },
            wireguardPublicKey = Convert.ToBase64String(victim.WireGuardKey().Public),
        });
        Assert.Equal(HttpStatusCode.Forbidden, garbage.StatusCode);
        Assert.Equal("malformed-evidence", await ReasonAsync(garbage));

        // The refusal is on the victim's history, with the source address; nothing else changed.
        Assert.Contains(await EventsAsync(mac), e => e.GetProperty("reason").GetString() == "malformed-evidence"
            && e.GetProperty("message").GetString()!.Contains("127.0.0.1", StringComparison.Ordinal));
        await AssertVictimStillAttestsAsync(victim, mac, before);
    }

    [Fact]
    public async Task Attack1_VictimEkWithAttackerAk_FromAttackerMac_VictimUnchangedAndNeverActivated()
    {
        using var victim = new SwtpmNode();
        using var attacker = new SwtpmNode();
        const string victimMac = "52:54:00:a1:00:02";
        const string attackerMac = "52:54:00:a1:00:03";
        var before = await ReadyVictimAsync(victim, victimMac);
        byte[] victimEk;
        using (var vt = victim.Connect())
        using (var ek = EndorsementKey.Create(vt, EkKind.RsaL1))
        {
            victimEk = ek.Public.ToSizedBytes();
        }

        // The attacker's own TPM signs a perfectly good quote, but names the victim's (public) EK.
        using var session = await Agent.BeginAsync(_host.Http, attacker, await Agent.BootTokenAsync(_host.Http, attackerMac), attackerMac);
        var (t, ek2, ak, sessionId, nonce) = session;
        var body = Agent.BuildQuote(t, ek2, ak, sessionId, nonce, attacker.WireGuardKey().Public);
        body["ekPublic"] = Convert.ToBase64String(victimEk);
        body["eventLog"] = Convert.ToBase64String(EventLogs.EmptySha256());
        var q = await Agent.PostAsync(_host.Http, "quote", body);
        Assert.Equal(HttpStatusCode.OK, q.StatusCode); // the quote holds up on paper...
        Assert.Equal(before, await VictimAsync(victimMac)); // ...and yet nothing moved: no MAC, no serial

        // The credential is bound to the victim's EK: the attacker's TPM cannot recover the secret.
        var credential = await q.Content.ReadFromJsonAsync<JsonElement>();
        Assert.ThrowsAny<Exception>(() => Agent.Proof(ek2, ak, credential, sessionId));
        var a = await Agent.PostAsync(_host.Http, "activate", new { sessionId, proof = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) });
        Assert.Equal("proof-wrong", await ReasonAsync(a));
        Assert.Equal("Discovered", (await NodeAsync(attackerMac)).GetProperty("state").GetString());
        await AssertVictimStillAttestsAsync(victim, victimMac, before);
    }

    [Fact]
    public async Task Attack1_OwnTpmBehindVictimMac_NewRecordAndVictimUnchanged()
    {
        using var victim = new SwtpmNode();
        using var attacker = new SwtpmNode();
        const string mac = "52:54:00:a1:00:04";
        var before = await ReadyVictimAsync(victim, mac);
        var victimId = (await NodeAsync(mac)).GetProperty("id").GetString()!;

        // A proven TPM behind the victim's MAC is new hardware: its own record, and only that.
        var other = await Agent.AttestAsync(_host.Http, attacker, await Agent.BootTokenAsync(_host.Http, mac), mac);
        Assert.NotEqual(victimId, other.GetProperty("nodeId").GetString());
        Assert.Equal(before, await VictimAsync(victimId));
        var again = await Agent.AttestAsync(_host.Http, victim, await Agent.BootTokenAsync(_host.Http, mac), mac);
        Assert.Equal(victimId, again.GetProperty("nodeId").GetString());
        Assert.Equal(before, await VictimAsync(victimId));
    }

    [Fact]
    public async Task Attack2_DecommissionWhileSessionQuoted_ActivateRefusedAndNoMeshEntry()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:a2:00:01";
        await ReadyVictimAsync(tpm, mac);
        var id = (await NodeAsync(mac)).GetProperty("id").GetString()!;

        using var session = await Agent.BeginAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var q = await Agent.PostAsync(_host.Http, "quote", Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public));
        Assert.Equal(HttpStatusCode.OK, q.StatusCode);
        var proof = Agent.Proof(ek, ak, await q.Content.ReadFromJsonAsync<JsonElement>(), sessionId);

        Assert.Equal(HttpStatusCode.OK, (await _host.Admin.PostAsync(new Uri($"/api/v1/nodes/{id}/decommission", UriKind.Relative), null)).StatusCode);
        var a = await Agent.PostAsync(_host.Http, "activate", new { sessionId, proof });
        Assert.Equal(HttpStatusCode.Forbidden, a.StatusCode);
        Assert.Equal("session-invalid", await ReasonAsync(a));
        Assert.Equal("Decommissioned", (await NodeAsync(id)).GetProperty("state").GetString());
        Assert.DoesNotContain(_host.Service<MeshIdentityService>().Roster.Members, m => m.NodeId == id);
    }

    [Fact]
    public async Task Attack3_ReencodedEk_SameIdentityRevokedOrRefused()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:a3:00:01";
        await ReadyVictimAsync(tpm, mac);
        var fingerprint = (await NodeAsync(mac)).GetProperty("ekFingerprint").GetString();

        // Without a certificate, a policy that is none of the TCG templates' is refused outright.
        var (r1, _) = await QuoteWithFlippedPolicyAsync(tpm, mac);
        Assert.Equal(HttpStatusCode.Forbidden, r1.StatusCode);
        Assert.Equal("ek-template", await ReasonAsync(r1));

        // The key is the identity: after decommission, any encoding of the same key is revoked.
        var id = (await NodeAsync(mac)).GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await _host.Admin.PostAsync(new Uri($"/api/v1/nodes/{id}/decommission", UriKind.Relative), null)).StatusCode);
        var (r2, _) = await QuoteWithFlippedPolicyAsync(tpm, mac, highRange: true);
        Assert.Equal(HttpStatusCode.Forbidden, r2.StatusCode);
        Assert.Equal("ek-revoked", await ReasonAsync(r2));
        Assert.Equal(fingerprint, (await NodeAsync(id)).GetProperty("ekFingerprint").GetString());
    }

    /// <summary>The real EK's key with its authPolicy changed (a byte flipped, or the high-range PolicyB).</summary>
    private async Task<(HttpResponseMessage Response, string SessionId)> QuoteWithFlippedPolicyAsync(SwtpmNode tpm, string mac, bool highRange = false)
    {
        using var session = await Agent.BeginAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var policy = highRange ? TpmTemplates.PolicyBSha256.ToArray() : ek.Public.AuthPolicy.ToArray();
        if (!highRange)
        {
            policy[0] ^= 0x01;
        }

        var p = ek.Public;
        var forged = new TpmtPublic
        {
            Type = p.Type,
            NameAlg = p.NameAlg,
            ObjectAttributes = p.ObjectAttributes,
            AuthPolicy = policy,
            Symmetric = p.Symmetric,
            Scheme = p.Scheme,
            RsaKeyBits = p.RsaKeyBits,
            RsaExponent = p.RsaExponent,
            Unique = p.Unique,
        };
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        body["ekPublic"] = Convert.ToBase64String(forged.ToSizedBytes());
        return (await Agent.PostAsync(_host.Http, "quote", body), sessionId);
    }

    [Fact]
    public async Task Attack4_ProfileRaisesTrustOnSelfAssertedSerial_IgnoredUntilOperatorLabels()
    {
        await RestartAsync("--Attestation:EnrollmentPolicy=Approve");
        var bySerial = await _host.Admin.PutAsJsonAsync(new Uri("/api/v1/profiles/lab-serial", UriKind.Relative),
            new { name = "lab-serial", priority = 10, match = new { serials = new[] { "LAB-1" } }, enrollmentPolicy = "Lab" });
        Assert.True(bySerial.IsSuccessStatusCode, await bySerial.Content.ReadAsStringAsync());
        var byLabel = await _host.Admin.PutAsJsonAsync(new Uri("/api/v1/profiles/lab-label", UriKind.Relative),
            new { name = "lab-label", priority = 20, match = new { labels = new Dictionary<string, string> { ["lab"] = "yes" } }, enrollmentPolicy = "Lab" });
        Assert.True(byLabel.IsSuccessStatusCode, await byLabel.Content.ReadAsStringAsync());

        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:a4:00:01";
        var script = await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&serial=LAB-1", UriKind.Relative));
        var token = script.Split("kldload.token=")[1].Split([' ', '\n'])[0];
        Assert.Equal("lab-serial", (await NodeAsync(mac)).GetProperty("profile").GetString());
        var pending = await AttestWithLogAsync(tpm, token, mac);
        Assert.Equal("Enrolling", pending.GetProperty("state").GetString()); // the serial raised nothing

        // An operator's label is a decision, not a claim: the Lab profile now applies.
        var patch = await _host.Admin.PatchAsJsonAsync(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative), new { labels = new Dictionary<string, string> { ["lab"] = "yes" } });
        Assert.True(patch.IsSuccessStatusCode, await patch.Content.ReadAsStringAsync());
        var labeled = await AttestWithLogAsync(tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        Assert.Equal("Attested", labeled.GetProperty("state").GetString());
    }

    private async Task<JsonElement> AttestWithLogAsync(SwtpmNode node, string token, string mac) =>
        (await Agent.AttestWithEmptyLogAsync(_host.Http, node, token, mac)).Activation;

    private static readonly string[] MalformedEkKinds = ["sha1", "rsa1024", "ecc-off-curve", "ecc-short"];

    public static TheoryData<string> MalformedEks => new(MalformedEkKinds);

    [Theory]
    [MemberData(nameof(MalformedEks))]
    public async Task Attack8_MalformedEk_RefusedNot500AndNodeUnchanged(string kind)
    {
        using var tpm = new SwtpmNode();
        var mac = $"52:54:00:a8:00:{Array.IndexOf(MalformedEkKinds, kind):x2}";
        using var session = await Agent.BeginAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var p = ek.Public;
        TpmtPublic bad = kind switch
        {
            "sha1" => new TpmtPublic { Type = p.Type, NameAlg = TpmAlgId.Sha1, ObjectAttributes = p.ObjectAttributes, AuthPolicy = p.AuthPolicy, Symmetric = p.Symmetric, Scheme = p.Scheme, RsaKeyBits = p.RsaKeyBits, Unique = p.Unique },
            "rsa1024" => new TpmtPublic { Type = p.Type, NameAlg = p.NameAlg, ObjectAttributes = p.ObjectAttributes, AuthPolicy = p.AuthPolicy, Symmetric = p.Symmetric, Scheme = p.Scheme, RsaKeyBits = 1024, Unique = p.Unique[..128] },
            _ => new TpmtPublic
            {
                Type = TpmAlgId.Ecc,
                NameAlg = TpmAlgId.Sha256,
                ObjectAttributes = p.ObjectAttributes,
                AuthPolicy = p.AuthPolicy,
                Symmetric = p.Symmetric,
                Scheme = TpmtScheme.Null,
                Curve = TpmEccCurve.NistP256,
                EccKdf = TpmtScheme.Null,
                EccX = kind == "ecc-short" ? new byte[5] : Enumerable.Repeat((byte)1, 32).ToArray(),
                EccY = kind == "ecc-short" ? new byte[5] : Enumerable.Repeat((byte)2, 32).ToArray(),
            },
        };
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        body["ekPublic"] = Convert.ToBase64String(bad.ToSizedBytes());
        var r = await Agent.PostAsync(_host.Http, "quote", body);
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("ek-unsupported", await ReasonAsync(r));
        Assert.Equal("Discovered", (await NodeAsync(mac)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Attack8_EventLogWithWrongDigestSize_MalformedEvidenceNot500()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:a8:01:01";
        using var session = await Agent.BeginAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var log = EventLogs.EmptySha256();
        log[^3] = 20; // the Spec ID event declares 20-byte SHA-256 digests
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        body["eventLog"] = Convert.ToBase64String(log);
        var r = await Agent.PostAsync(_host.Http, "quote", body);
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("malformed-evidence", await ReasonAsync(r));
    }

    [Fact]
    public async Task Attack8_ConcurrentUseOfOneSession_OnlyOneSucceeds()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:a8:02:01";
        using var session = await Agent.BeginAsync(_host.Http, tpm, await Agent.BootTokenAsync(_host.Http, mac), mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        var quotes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Agent.PostAsync(_host.Http, "quote", body)));
        Assert.Single(quotes, q => q.StatusCode == HttpStatusCode.OK);
        var credential = await quotes.Single(q => q.StatusCode == HttpStatusCode.OK).Content.ReadFromJsonAsync<JsonElement>();
        var proof = Agent.Proof(ek, ak, credential, sessionId);
        var activations = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Agent.PostAsync(_host.Http, "activate", new { sessionId, proof })));
        Assert.Single(activations, a => a.StatusCode == HttpStatusCode.OK);
        Assert.All(activations.Where(a => a.StatusCode != HttpStatusCode.OK), a => Assert.Equal(HttpStatusCode.Forbidden, a.StatusCode));
    }
}
