using System.Net.Http.Json;
using System.Text.Json;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>
/// The public wire contract followed by tools/attest-client.sh: tpm2-tools, curl, jq and openssl
/// against a swtpm, and the real host.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class ReferenceClientTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-refclient-").FullName;
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        _host = await TestHost.StartAsync(_dir, images, "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task ReferenceClient_Tpm2ToolsAndCurl_NodeReachesReady()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:60:00:01";
        var script = await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative));
        var token = script.Split("kldload.token=")[1].Split('\n')[0].Trim();
        var log = Path.Combine(_dir, "empty.log");
        File.WriteAllBytes(log, EventLogs.EmptySha256());

        var (code, stdout, stderr) = await RunAsync(tpm, _host.Http.BaseAddress!.ToString(), token, mac, log);
        Assert.True(code == 0, $"attest-client.sh exited {code}: {stderr}");
        var activated = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("Attested", activated.GetProperty("state").GetString());
        Assert.Contains("[Peer]", activated.GetProperty("wireguardConfig").GetString(), StringComparison.Ordinal);

        var node = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
        Assert.Equal("Ready", node.GetProperty("state").GetString());
        Assert.Equal(activated.GetProperty("meshAddress").GetString(), node.GetProperty("meshAddress").GetString());
    }

    [Fact]
    public async Task ReferenceClient_WithFacts_BoundIntoTheQuoteAndStoredAsCanonical()
    {
        using var tpm = new SwtpmNode();
        const string mac = "52:54:00:60:00:03";
        var script = await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative));
        var token = script.Split("kldload.token=")[1].Split('\n')[0].Trim();
        var facts = Path.Combine(_dir, "facts.json");
        File.WriteAllText(facts, """
            { "system": { "serial": "SH-1", "manufacturer": "QEMU" },
              "memory": { "totalGiB": 1.50, "totalBytes": 1610612736 }, "schema": 1,
              "disks": [ { "serial": "KLD-NVME-1", "sizeBytes": 1073741824, "rotational": false } ] }
            """);

        var (code, _, stderr) = await RunAsync(tpm, new Dictionary<string, string> { ["KLDLOAD_FACTS"] = facts }, _host.Http.BaseAddress!.ToString(), token, mac, "/nonexistent");
        Assert.True(code == 0, $"attest-client.sh exited {code}: {stderr}");

        var hardware = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}/hardware", UriKind.Relative));
        Assert.True(hardware.GetProperty("bound").GetBoolean());
        Assert.Equal(
            "{\"disks\":[{\"rotational\":false,\"serial\":\"KLD-NVME-1\",\"sizeBytes\":1073741824}],\"memory\":{\"totalBytes\":1610612736,\"totalGiB\":1.5},\"schema\":1,\"system\":{\"manufacturer\":\"QEMU\",\"serial\":\"SH-1\"}}",
            hardware.GetProperty("facts").GetRawText());
    }

    [Fact]
    public async Task ReferenceClient_UsedToken_FailsWithReason()
    {
        using var tpm = new SwtpmNode();
        var (code, _, stderr) = await RunAsync(tpm, _host.Http.BaseAddress!.ToString(), "not-a-token", "52:54:00:60:00:02", "/nonexistent");
        Assert.Equal(1, code);
        Assert.Contains("challenge refused with HTTP 401: token-unknown", stderr, StringComparison.Ordinal);
    }

    private static Task<(int Code, string Stdout, string Stderr)> RunAsync(SwtpmNode tpm, params string[] args) => RunAsync(tpm, [], args);

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(SwtpmNode tpm, Dictionary<string, string> environment, params string[] args)
    {
        var env = new Dictionary<string, string> { ["TPM2TOOLS_TCTI"] = tpm.Tcti };
        foreach (var (key, value) in environment)
        {
            env[key] = value;
        }

        var r = await Task.Run(() => ExternalTool.TryRun("bash", [Path.Combine(RepositoryPaths.Root, "tools", "attest-client.sh"), .. args], timeout: TimeSpan.FromMinutes(3), env: env));
        return (r.ExitCode, r.StdOut, r.StdErr);
    }
}
