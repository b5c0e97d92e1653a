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
    private TwoInstances _hosts = null!;

    public async Task InitializeAsync() => _hosts = await TwoInstances.StartAsync(postgres.CreateDatabase(), "kldload-two-", Images,
        "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab");

    public Task DisposeAsync() => _hosts.DisposeAsync().AsTask();

    private static FixedImages Images()
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        return images;
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
        var throughA = await Agent.AttestAsync(_hosts.A.Http, tpm, await BootAsync(_hosts.A, mac), mac);
        var throughB = await Agent.AttestAsync(_hosts.B.Http, tpm, await BootAsync(_hosts.B, mac), mac);

        Assert.Equal("Attested", throughB.GetProperty("state").GetString());
        Assert.Equal(throughA.GetProperty("nodeId").GetString(), throughB.GetProperty("nodeId").GetString());
        Assert.Equal(throughA.GetProperty("meshAddress").GetString(), throughB.GetProperty("meshAddress").GetString());
        Assert.Equal(throughA.GetProperty("caBundle").GetString(), throughB.GetProperty("caBundle").GetString());

        // Both instances see one node, Ready, with the key the TPM derives.
        foreach (var host in new[] { _hosts.A, _hosts.B })
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
