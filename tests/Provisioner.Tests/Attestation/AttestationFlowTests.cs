using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Kldload.Tpm.Device;
using Kldload.Tpm.Structures;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// The whole attestation against a real TPM (swtpm) with Kldload.Tpm on the node side, and the real
/// host with MeshCA on the server side: run once on each database provider (the subclasses below).
/// </summary>
[Trait("Tier", "Integration")]
public abstract class AttestationFlowTests : IAsyncLifetime
{
    protected readonly string _dir = Directory.CreateTempSubdirectory("kldload-attest-").FullName;
    private readonly FixedImages _images = new();
    protected TestHost _host = null!;

    /// <summary>The <c>Database</c> settings of the provider under test.</summary>
    protected abstract IReadOnlyList<string> StorageSettings { get; }

    public Task InitializeAsync() => StartAsync("Lab");

    private async Task StartAsync(string policy)
    {
        _images.Channels["stable"] = FixedImages.Image("live", "1");
        _host = await TestHost.StartAsync(_dir, _images, ["--Boot:DefaultChannel=stable", $"--Attestation:EnrollmentPolicy={policy}", .. StorageSettings]);
    }

    private async Task RestartAsync(string policy)
    {
        await _host.DisposeAsync();
        await StartAsync(policy);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    protected async Task<string> BootAsync(string mac)
    {
        var script = await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&arch=x86_64", UriKind.Relative));
        return script.Split("kldload.token=")[1].Split('\n')[0].Trim();
    }

    protected async Task<JsonElement> NodeAsync(string key) =>
        await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{key}", UriKind.Relative));

    private async Task<List<JsonElement>> EventsAsync(string key) =>
        [.. (await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{key}/events", UriKind.Relative))).EnumerateArray()];

    [Fact]
    public async Task Attest_OwnTpmLibrary_DiscoveredToReadyWithMeshConfiguration()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:01";
        var token = await BootAsync(mac);
        Assert.Equal("Discovered", (await NodeAsync(mac)).GetProperty("state").GetString());

        var activated = await Agent.AttestAsync(_host.Http, tpm, token, mac);
        Assert.Equal("Attested", activated.GetProperty("state").GetString());
        var node = await NodeAsync(mac);
        Assert.Equal("Ready", node.GetProperty("state").GetString());
        Assert.Equal(activated.GetProperty("meshAddress").GetString(), node.GetProperty("meshAddress").GetString());
        Assert.StartsWith("fd", node.GetProperty("meshAddress").GetString(), StringComparison.Ordinal);
        Assert.Equal(Convert.ToBase64String(tpm.WireGuardKey().Public), node.GetProperty("wireguardPublicKey").GetString());
        Assert.NotEqual(JsonValueKind.Null, node.GetProperty("lastBootAt").ValueKind);
        Assert.True(node.GetProperty("lastBootToMeshSeconds").GetDouble() >= 0);

        // The configuration carries no private key; the certificate chains to the CA bundle handed out.
        var config = activated.GetProperty("wireguardConfig").GetString()!;
        Assert.DoesNotContain("PrivateKey", config, StringComparison.Ordinal);
        Assert.Contains("[Peer]", config, StringComparison.Ordinal);
        using var cert = X509Certificate2.CreateFromPem(activated.GetProperty("certificate").GetString());
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPem(activated.GetProperty("caBundle").GetString());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        foreach (var c in bundle)
        {
            (c.Subject == c.Issuer ? chain.ChainPolicy.CustomTrustStore : chain.ChainPolicy.ExtraStore).Add(c);
        }

        Assert.True(chain.Build(cert), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));

        // The token opened exactly one completed attestation: it cannot open another.
        var again = await Agent.PostAsync(_host.Http, "challenge", new { bootToken = token, mac });
        Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);

        var kinds = (await EventsAsync(mac)).Select(e => e.GetProperty("reason").GetString()).ToList();
        Assert.Contains("Attested", kinds);
        Assert.Contains("Ready", kinds);
    }

    [Fact]
    public async Task Attest_EccEk_Works()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:0e";
        var activated = await Agent.AttestAsync(_host.Http, tpm, await BootAsync(mac), mac, EkKind.EccP256L2);
        Assert.Equal("Attested", activated.GetProperty("state").GetString());
        Assert.Equal("Ready", (await NodeAsync(mac)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Attest_Reboot_SameNodeKeyAndAddressWithNoOperatorStep()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:02";
        await Agent.AttestAsync(_host.Http, tpm, await BootAsync(mac), mac);
        var first = await NodeAsync(mac);

        await Agent.AttestAsync(_host.Http, tpm, await BootAsync(mac), mac);
        var second = await NodeAsync(mac);
        Assert.Equal("Ready", second.GetProperty("state").GetString());
        Assert.Equal(first.GetProperty("id").GetString(), second.GetProperty("id").GetString());
        Assert.Equal(first.GetProperty("meshAddress").GetString(), second.GetProperty("meshAddress").GetString());
        Assert.Equal(first.GetProperty("wireguardPublicKey").GetString(), second.GetProperty("wireguardPublicKey").GetString());
    }

    [Fact]
    public async Task Activate_ApprovePolicyWithoutEventLog_QuarantinedOnceProven()
    {
        await RestartAsync("Approve");
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:03";
        var token = await BootAsync(mac);
        using var session = await Agent.BeginAsync(_host.Http, tpm, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var q = await Agent.PostAsync(_host.Http, "quote", Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public));
        Assert.Equal(HttpStatusCode.OK, q.StatusCode);
        Assert.Equal("Discovered", (await NodeAsync(mac)).GetProperty("state").GetString());

        // Only once the TPM proves it holds the EK does the missing log count against the node.
        var proof = Agent.Proof(ek, ak, await q.Content.ReadFromJsonAsync<JsonElement>(), sessionId);
        await AssertQuarantinedAsync(await Agent.PostAsync(_host.Http, "activate", new { sessionId, proof }), "event-log-missing", mac);
    }

    [Fact]
    public async Task Attest_ApprovePolicy_NewEkWaitsUntilOperatorApproves()
    {
        await RestartAsync("Approve");
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:10";
        var token = await BootAsync(mac);
        var pending = await AttestWithEmptyLogAsync(tpm, token, mac);
        Assert.Equal("Enrolling", pending.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, pending.GetProperty("meshAddress").ValueKind);
        Assert.Equal("Enrolling", (await NodeAsync(mac)).GetProperty("state").GetString());

        Assert.Equal(HttpStatusCode.OK, (await _host.Admin.PostAsync(new Uri($"/api/v1/nodes/{mac}/approve", UriKind.Relative), null)).StatusCode);
        var done = await AttestWithEmptyLogAsync(tpm, token, mac);
        Assert.Equal("Attested", done.GetProperty("state").GetString());
        Assert.StartsWith("fd", done.GetProperty("meshAddress").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quote_WrongNonce_RefusedAndNodeUnchanged()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:04";
        var token = await BootAsync(mac);
        using var session = await Agent.BeginAsync(_host.Http, tpm, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var wg = tpm.WireGuardKey().Public;
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, wg, qualifyingOverride: SHA256.HashData(nonce));
        await AssertRefusedAsync(await Agent.PostAsync(_host.Http, "quote", body), "nonce-mismatch", mac);
    }

    [Fact]
    public async Task Quote_FlippedSignatureBit_SignatureInvalid()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:05";
        var token = await BootAsync(mac);
        using var session = await Agent.BeginAsync(_host.Http, tpm, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        var sig = Convert.FromBase64String((string)body["signature"]!);
        sig[^5] ^= 0x01;
        body["signature"] = Convert.ToBase64String(sig);
        await AssertRefusedAsync(await Agent.PostAsync(_host.Http, "quote", body), "signature-invalid", mac);
    }

    [Fact]
    public async Task Quote_TamperedPcrValue_PcrMismatch()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:06";
        var token = await BootAsync(mac);
        using var session = await Agent.BeginAsync(_host.Http, tpm, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        var pcrs = (Dictionary<string, Dictionary<string, string>>)body["pcrs"]!;
        pcrs["sha256"]["7"] = new string('f', 64);
        await AssertRefusedAsync(await Agent.PostAsync(_host.Http, "quote", body), "pcr-mismatch", mac);
    }

    [Fact]
    public async Task Quote_UnrestrictedSigningKeyAsAk_AkNotRestricted()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:07";
        var token = await BootAsync(mac);
        using var t = tpm.Connect();
        using var ek = EndorsementKey.Create(t, EkKind.RsaL1);
        var template = TpmTemplates.AkRsa2048();
        var unrestricted = new TpmtPublic
        {
            Type = template.Type,
            NameAlg = template.NameAlg,
            ObjectAttributes = template.ObjectAttributes & ~TpmaObject.Restricted,
            Symmetric = template.Symmetric,
            Scheme = template.Scheme,
            RsaKeyBits = template.RsaKeyBits,
            RsaExponent = template.RsaExponent,
        };
        using var ak = AttestationKey.Create(t, ek, unrestricted);
        var (sessionId, nonce) = await Agent.ChallengeAsync(_host.Http, token, mac);
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        await AssertRefusedAsync(await Agent.PostAsync(_host.Http, "quote", body), "ak-not-restricted", mac);
    }

    [Fact]
    public async Task Activate_WrongProof_ProofWrongAndNeverAttested()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:08";
        var token = await BootAsync(mac);
        using var session = await Agent.BeginAsync(_host.Http, tpm, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var q = await Agent.PostAsync(_host.Http, "quote", Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public));
        Assert.Equal(HttpStatusCode.OK, q.StatusCode);
        var r = await Agent.PostAsync(_host.Http, "activate", new { sessionId, proof = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) });
        await AssertRefusedAsync(r, "proof-wrong", mac);
        Assert.Equal(JsonValueKind.Null, (await NodeAsync(mac)).GetProperty("meshAddress").ValueKind);
    }

    [Fact]
    public async Task SoftwareKeyClaimingToBeARestrictedAk_QuoteAcceptedButNeverActivated()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:0f";
        var token = await BootAsync(mac);
        using var t = tpm.Connect();
        using var ek = EndorsementKey.Create(t, EkKind.RsaL1);
        using var realAk = AttestationKey.Create(t, ek, TpmTemplates.AkRsa2048());
        var (sessionId, nonce) = await Agent.ChallengeAsync(_host.Http, token, mac);
        var body = Agent.BuildQuote(t, ek, realAk, sessionId, nonce, tpm.WireGuardKey().Public);

        // An attacker's software RSA key dressed in every AK attribute, re-signing the quote body.
        using var software = RSA.Create(2048);
        var parameters = software.ExportParameters(includePrivateParameters: false);
        var template = TpmTemplates.AkRsa2048();
        var fakeAk = new TpmtPublic
        {
            Type = template.Type,
            NameAlg = template.NameAlg,
            ObjectAttributes = template.ObjectAttributes,
            Symmetric = template.Symmetric,
            Scheme = template.Scheme,
            RsaKeyBits = 2048,
            RsaExponent = 0,
            Unique = parameters.Modulus!,
        };
        var attest = Convert.FromBase64String((string)body["quote"]!);
        var signature = software.SignData(attest, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        body["akPublic"] = Convert.ToBase64String(fakeAk.ToSizedBytes());
        body["signature"] = Convert.ToBase64String(Kldload.Tpm.Marshalling.TpmMarshal.ToBytes(TpmtSignature.Rsa(TpmAlgId.RsaSsa, TpmAlgId.Sha256, signature)));

        // The evidence checks out on paper, so a credential is issued for the fake AK's name...
        var q = await Agent.PostAsync(_host.Http, "quote", body);
        Assert.Equal(HttpStatusCode.OK, q.StatusCode);

        // ...but no TPM holds that AK, so the secret cannot be recovered: the TPM refuses with the real AK.
        var credential = await q.Content.ReadFromJsonAsync<JsonElement>();
        Assert.ThrowsAny<Exception>(() => Agent.Proof(ek, realAk, credential, sessionId));
        var r = await Agent.PostAsync(_host.Http, "activate", new { sessionId, proof = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) });
        await AssertRefusedAsync(r, "proof-wrong", mac);
        Assert.DoesNotContain(await EventsAsync(mac), e => e.GetProperty("reason").GetString() == "Attested");
    }

    [Fact]
    public async Task Decommission_ThenNextBoot_EkRevoked()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:09";
        await Agent.AttestAsync(_host.Http, tpm, await BootAsync(mac), mac);
        Assert.Equal(HttpStatusCode.OK, (await _host.Admin.PostAsync(new Uri($"/api/v1/nodes/{mac}/decommission", UriKind.Relative), null)).StatusCode);

        var token = await BootAsync(mac);
        using var session = await Agent.BeginAsync(_host.Http, tpm, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var r = await Agent.PostAsync(_host.Http, "quote", Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public));
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("ek-revoked", (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());
        Assert.Equal("Decommissioned", (await NodeAsync(mac)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Quote_CertificateOfAnotherKey_BadEkCertificate()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:0a";
        var token = await BootAsync(mac);
        using var session = await Agent.BeginAsync(_host.Http, tpm, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var body = Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public);
        using var other = RSA.Create(2048);
        using var selfSigned = new CertificateRequest("CN=not this EK", other, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        body["ekCertificate"] = Convert.ToBase64String(selfSigned.RawData);
        await AssertRefusedAsync(await Agent.PostAsync(_host.Http, "quote", body), "bad-ek-certificate", mac);
    }

    [Fact]
    public async Task NewHardwareBehindSameMac_NotTrustedUntilReplaceMovesIdentity()
    {
        await RestartAsync("Lab");
        const string mac = "52:54:00:50:00:0b";
        string oldId, oldAddress, oldName;
        using (var original = new SwtpmNode())
        {
            await Agent.AttestAsync(_host.Http, original, await BootAsync(mac), mac);
            var n = await NodeAsync(mac);
            oldId = n.GetProperty("id").GetString()!;
            oldAddress = n.GetProperty("meshAddress").GetString()!;
            oldName = n.GetProperty("name").GetString()!;
        }

        // Approve policy: the new TPM behind the same MAC is new hardware and waits.
        await RestartAsync("Approve");
        using var replacement = new SwtpmNode();
        var token = await BootAsync(mac);
        var pending = await AttestWithEmptyLogAsync(replacement, token, mac);
        Assert.Equal("Enrolling", pending.GetProperty("state").GetString());
        var newId = pending.GetProperty("nodeId").GetString()!;
        Assert.NotEqual(oldId, newId);
        Assert.Equal("Ready", (await NodeAsync(oldId)).GetProperty("state").GetString());

        var r = await _host.Admin.PostAsJsonAsync(new Uri($"/api/v1/nodes/{oldId}/replace", UriKind.Relative), new { with = newId });
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());

        // Replace closed every token of the old record: the new hardware reboots for a new one.
        var closed = await Agent.PostAsync(_host.Http, "challenge", new { bootToken = token, mac });
        Assert.Equal(HttpStatusCode.Unauthorized, closed.StatusCode);
        var done = await AttestWithEmptyLogAsync(replacement, await BootAsync(mac), mac);
        Assert.Equal("Attested", done.GetProperty("state").GetString());
        var node = await NodeAsync(newId);
        Assert.Equal(oldName, node.GetProperty("name").GetString());
        Assert.Equal(oldAddress, node.GetProperty("meshAddress").GetString());
        Assert.Equal("Replaced", (await NodeAsync(oldId)).GetProperty("state").GetString());
    }

    /// <summary>Attests with an event log of no measurements (swtpm's PCRs are all zero), up to activate.</summary>
    private async Task<JsonElement> AttestWithEmptyLogAsync(SwtpmNode node, string token, string mac) =>
        (await Agent.AttestWithEmptyLogAsync(_host.Http, node, token, mac)).Activation;

    [Fact]
    public async Task Restart_InTheMiddleOfTheFlow_LosesNothing()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:00:0c";
        var token = await BootAsync(mac);
        using var session = await Agent.BeginAsync(_host.Http, tpm, token, mac);
        var (t, ek, ak, sessionId, nonce) = session;
        var q = await Agent.PostAsync(_host.Http, "quote", Agent.BuildQuote(t, ek, ak, sessionId, nonce, tpm.WireGuardKey().Public));
        var credential = await q.Content.ReadFromJsonAsync<JsonElement>();
        var eventsBefore = (await EventsAsync(mac)).Count;

        await RestartAsync("Lab");

        Assert.Equal(eventsBefore, (await EventsAsync(mac)).Count);
        var a = await Agent.PostAsync(_host.Http, "activate", new { sessionId, proof = Agent.Proof(ek, ak, credential, sessionId) });
        Assert.True(a.IsSuccessStatusCode, await a.Content.ReadAsStringAsync());
        Assert.Equal("Attested", (await NodeAsync(mac)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Challenge_UnknownToken_401AndNoStateChange()
    {
        var r = await Agent.PostAsync(_host.Http, "challenge", new { bootToken = "nope", mac = "52:54:00:50:00:0d" });
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.Equal("token-unknown", (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());
    }

    /// <summary>A refusal before proof: the reason is given and recorded, and the node's record is untouched.</summary>
    private async Task AssertRefusedAsync(HttpResponseMessage response, string reason, string mac)
    {
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(reason, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());
        var node = await NodeAsync(mac);
        Assert.Equal("Discovered", node.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, node.GetProperty("ekFingerprint").ValueKind);
        Assert.Equal(JsonValueKind.Null, node.GetProperty("meshAddress").ValueKind);
        Assert.Contains(await EventsAsync(mac), e => e.GetProperty("reason").GetString() == reason);
    }

    /// <summary>Proven evidence that fails policy: refused at activate, and the node is quarantined with the reason.</summary>
    private async Task AssertQuarantinedAsync(HttpResponseMessage response, string reason, string mac)
    {
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(reason, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());
        var node = await NodeAsync(mac);
        Assert.Equal("Quarantined", node.GetProperty("state").GetString());
        Assert.StartsWith(reason, node.GetProperty("stateReason").GetString(), StringComparison.Ordinal);
        Assert.Contains(await EventsAsync(mac), e => e.GetProperty("reason").GetString() == reason);
    }
}

/// <summary>The attestation on the embedded LiteDB (the default).</summary>
public sealed class AttestationFlowOnLiteDbTests : AttestationFlowTests
{
    protected override IReadOnlyList<string> StorageSettings => [];
}

/// <summary>The attestation on PostgreSQL: a fresh database of the test cluster per test, kept across the test's restarts.</summary>
public sealed class AttestationFlowOnPostgresTests(PostgresFixture postgres) : AttestationFlowTests, IClassFixture<PostgresFixture>
{
    private readonly string _connectionString = postgres.CreateDatabase();

    protected override IReadOnlyList<string> StorageSettings => ["--Database:Provider=PostgreSql", $"--Database:ConnectionString={_connectionString}"];

    [Fact]
    public async Task Attest_OnPostgreSql_TheNodeLivesInTheDatabaseNotInTheDataDirectory()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:50:0f:01";
        var token = await BootAsync(mac);
        var activated = await Agent.AttestAsync(_host.Http, tpm, token, mac);
        var id = activated.GetProperty("nodeId").GetString();

        Assert.False(File.Exists(Path.Combine(_dir, "kldload.db")), "PostgreSQL mode must not open the embedded database");
        await using var connection = new Npgsql.NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM nodes WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", id!);
        Assert.Equal(1L, await command.ExecuteScalarAsync());
    }
}
