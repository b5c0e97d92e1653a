using System.Net.Http.Json;
using System.Text.Json;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// Two provisioners on one PostgreSQL database, each with its own data directory, given the one key
/// file that opens the shared mesh CA: a node that attested through A and then boots through B is
/// the same node (same id, mesh address, WireGuard key), enrolled once, certified by the same CA.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class TwoInstanceAttestationTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-two-").FullName;
    private readonly string _connectionString = postgres.CreateDatabase();
    private TestHost _a = null!;
    private TestHost _b = null!;

    public async Task InitializeAsync()
    {
        _a = await StartAsync("a");
        _b = await StartAsync("b");
    }

    public async Task DisposeAsync()
    {
        await _b.DisposeAsync();
        await _a.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<TestHost> StartAsync(string name)
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        return TestHost.StartAsync(Path.Combine(_dir, name), images,
            "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab",
            "--Database:Provider=PostgreSql", $"--Database:ConnectionString={_connectionString}", $"--Mesh:CaKeyFile={Path.Combine(_dir, "ca.key")}");
    }

    private static async Task<string> BootAsync(TestHost host, string mac)
    {
        var script = await host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&arch=x86_64", UriKind.Relative));
        return script.Split("kldload.token=")[1].Split('\n')[0].Trim();
    }

    [Fact]
    public async Task AttestedThroughA_BootsThroughB_SameNodeSameAddressSameKeySameCa()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:5a:00:01";
        var throughA = await Agent.AttestAsync(_a.Http, tpm, await BootAsync(_a, mac), mac);
        var throughB = await Agent.AttestAsync(_b.Http, tpm, await BootAsync(_b, mac), mac);

        Assert.Equal("Attested", throughB.GetProperty("state").GetString());
        Assert.Equal(throughA.GetProperty("nodeId").GetString(), throughB.GetProperty("nodeId").GetString());
        Assert.Equal(throughA.GetProperty("meshAddress").GetString(), throughB.GetProperty("meshAddress").GetString());
        Assert.Equal(throughA.GetProperty("caBundle").GetString(), throughB.GetProperty("caBundle").GetString());

        // Both instances see one node, Ready, with the key the TPM derives.
        foreach (var host in new[] { _a, _b })
        {
            var node = await host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
            Assert.Equal("Ready", node.GetProperty("state").GetString());
            Assert.Equal(throughA.GetProperty("nodeId").GetString(), node.GetProperty("id").GetString());
            Assert.Equal(Convert.ToBase64String(tpm.WireGuardKey().Public), node.GetProperty("wireguardPublicKey").GetString());
            var nodes = await host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes", UriKind.Relative));
            Assert.Equal(1, nodes.GetArrayLength());
        }
    }
}
