using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.ImageStore;

namespace Kldload.Provisioner.Tests.Dashboard;

/// <summary>The routes the dashboard added (whoami, a node's boots, what an approval trusts) over real HTTP on the real host and image store.</summary>
[Trait("Tier", "Integration")]
public sealed class DashboardApiTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-dashapi-").FullName;
    private TestHost _host = null!;

    public async Task InitializeAsync() => _host = await TestHost.StartAsync(_dir, null, "--Boot:DefaultChannel=stable");

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<HttpClient> ClientAsync(string name, string role)
    {
        var r = await _host.Admin.PostAsJsonAsync(new Uri("/api/v1/tokens", UriKind.Relative), new { name, role });
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var client = new HttpClient { BaseAddress = _host.Http.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString());
        return client;
    }

    [Fact]
    public async Task WhoAmI_EachCaller_ItsNameAndRole()
    {
        using var viewer = await ClientAsync("vera", "viewer");
        using var operatorClient = await ClientAsync("otto", "operator");

        var me = await viewer.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/whoami", UriKind.Relative));
        Assert.Equal("vera", me.GetProperty("name").GetString());
        Assert.Equal("viewer", me.GetProperty("role").GetString());
        Assert.Equal("operator", (await operatorClient.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/whoami", UriKind.Relative))).GetProperty("role").GetString());
        var bootstrap = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/whoami", UriKind.Relative));
        Assert.Equal("admin", bootstrap.GetProperty("name").GetString());
        Assert.Equal("admin", bootstrap.GetProperty("role").GetString());

        Assert.Equal(HttpStatusCode.Unauthorized, (await _host.Http.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Boots_UnknownNode_404()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await _host.Admin.GetAsync(new Uri("/api/v1/nodes/52:54:00:99:99:99/boots", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _host.Admin.GetAsync(new Uri("/api/v1/nodes/no-such-node/approval", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _host.Http.GetAsync(new Uri("/api/v1/nodes/no-such-node/boots", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Boots_ScriptThenKernelAndInitrdByDigest_OneBootWithTheStepsNamedAndTimed()
    {
        var src = Directory.CreateDirectory(Path.Combine(_dir, "src")).FullName;
        File.WriteAllBytes(Path.Combine(src, "kernel"), RandomNumberGenerator.GetBytes(20_000));
        File.WriteAllBytes(Path.Combine(src, "initrd"), RandomNumberGenerator.GetBytes(30_000));
        var store = _host.Service<LiveImageStore>();
        await store.ImportDirectoryAsync(src, new DirectoryImportOptions { Name = "live", Version = "1", CommandLine = "console=ttyS0" }, "test");
        store.Catalog.Promote("stable", new ImageKey("live", "1"), "test");
        const string mac = "52:54:00:71:00:01";

        var script = await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&arch=x86_64", UriKind.Relative));
        foreach (var line in script.Split('\n').Where(l => l.StartsWith("kernel ", StringComparison.Ordinal) || l.StartsWith("initrd ", StringComparison.Ordinal)))
        {
            await _host.Http.GetByteArrayAsync(new Uri(line.Split(' ').First(w => w.Contains("/images/", StringComparison.Ordinal))));
        }

        // Image fetches are written by a background task after the response: wait for both.
        using var viewer = await ClientAsync("vera", "viewer");
        JsonElement boot = default;
        for (var i = 0; i < 100; i++)
        {
            var boots = await viewer.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}/boots", UriKind.Relative));
            boot = boots[0];
            if (boot.GetProperty("steps").GetArrayLength() >= 3)
            {
                break;
            }

            await Task.Delay(100);
        }

        var steps = boot.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(["Script", "Kernel", "Initrd"], steps.Select(s => s.GetProperty("step").GetString()!).ToArray());
        Assert.Equal("Incomplete", boot.GetProperty("outcome").GetString());
        Assert.All(steps, s => Assert.True(s.GetProperty("seconds").GetDouble() >= 0));
        Assert.Contains("/images/", steps[1].GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Approval_DiscoveredNode_NoEkYetAndNoFacts()
    {
        const string mac = "52:54:00:71:00:02";
        await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative));

        var a = await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}/approval", UriKind.Relative));

        Assert.Equal("Discovered", a.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, a.GetProperty("ekFingerprint").ValueKind);
        Assert.Equal(JsonValueKind.Null, a.GetProperty("certificateSubject").ValueKind);
        Assert.Equal(JsonValueKind.Null, a.GetProperty("facts").ValueKind);
    }
}
