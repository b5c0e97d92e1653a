using System.Net.Http.Json;
using System.Text.Json;
using Kldload.Agent.Commissioning;

namespace Kldload.Agent.Tests.Commissioning;

/// <summary>
/// The agent's facts, bound into a real swtpm quote, accepted by the real kldload host (in process,
/// LiteDB) and shown by the admin API as the node sent them.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class FactsAttestationTests(ManufacturedSwtpm tpm) : IClassFixture<ManufacturedSwtpm>, IDisposable
{
    private readonly SwtpmProcess _swtpm = tpm.Swtpm;
    private readonly string _dir = Directory.CreateTempSubdirectory("klagent-facts-").FullName;
    private readonly List<string> _console = [];

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public async Task AttestAsync_QemuFacts_BoundAndShownAsSent()
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        await using var host = await TestHost.StartAsync(Path.Combine(_dir, "host"), images, "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab");
        const string mac = "52:54:00:aa:bb:02";
        var script = await host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&arch=x86_64", UriKind.Relative));
        var token = script.Split("kldload.token=")[1].Split('\n')[0].Split(' ')[0].Trim();
        using var device = _swtpm.Connect();
        var facts = new FactsCollector(FactsCollectorTests.Tree("qemu")).Collect(TpmFactsReader.Read(device));
        var canonical = FactsDocument.Canonical(facts);

        var outcome = await new AttestationClient(host.Http, device, token, _console.Add).AttestAsync(mac, null, canonical, CancellationToken.None);
        Assert.True(outcome.Activation.State == "Attested", string.Join('\n', _console));

        var hardware = await host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{outcome.Activation.NodeId}/hardware", UriKind.Relative));
        Assert.True(hardware.GetProperty("bound").GetBoolean());
        Assert.Equal(System.Text.Encoding.UTF8.GetString(canonical), hardware.GetProperty("facts").GetRawText());
        Assert.Equal("IBM", hardware.GetProperty("facts").GetProperty("tpm").GetProperty("manufacturer").GetString()); // swtpm's TPM_PT_MANUFACTURER

        var node = await host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{outcome.Activation.NodeId}", UriKind.Relative));
        var shown = node.GetProperty("facts");
        Assert.Equal(1.5, shown.GetProperty("memory").GetProperty("totalGiB").GetDouble());
        Assert.Equal("KLD-SERIAL-1", shown.GetProperty("system").GetProperty("serial").GetString());
        Assert.Contains("KLD-NVME-1", shown.GetProperty("disks").EnumerateArray().Select(d => d.GetProperty("serial").GetString()));
        Assert.True(node.GetProperty("factsBound").GetBoolean());
        Assert.Equal(1.5, node.GetProperty("memoryGiB").GetDouble());
    }
}
