using System.Net.Http.Json;
using System.Text.Json;

namespace Kldload.Provisioner.Tests.Api;

[Trait("Tier", "Integration")]
public sealed class RestartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-restart-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Restart_KeepsNodesEventsAndAdminToken()
    {
        string token;
        int events;
        await using (var first = await TestHost.StartAsync(_dir))
        {
            await first.Http.GetStringAsync(new Uri("/boot.ipxe?mac=52:54:00:20:00:01&platform=pcbios", UriKind.Relative));
            token = File.ReadAllText(Path.Combine(_dir, "admin.token"));
            events = (await first.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/events", UriKind.Relative))).GetArrayLength();
            Assert.True(events >= 2);
        }

        await using var second = await TestHost.StartAsync(_dir);
        Assert.Equal(token, File.ReadAllText(Path.Combine(_dir, "admin.token")));
        var nodes = await second.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes", UriKind.Relative));
        Assert.Equal("52:54:00:20:00:01", Assert.Single(nodes.EnumerateArray()).GetProperty("macs")[0].GetString());
        Assert.Equal(events, (await second.Admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/events", UriKind.Relative))).GetArrayLength());
    }
}
