using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.ImageStore;

namespace Kldload.Provisioner.Tests.Inventory;

/// <summary>
/// TFTP transfers (real tftp-hpa client) and image downloads land in the history of the node that
/// made them, found by its address; steps from an unknown address are counted, not guessed.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class BootStepsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-steps-").FullName;
    private string _root = null!;
    private int _tftpPort;
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        _root = Directory.CreateDirectory(Path.Combine(_dir, "loaders")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(_root, "ipxe.efi"), RandomNumberGenerator.GetBytes(3000));
        using (var probe = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            _tftpPort = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        }

        _host = await TestHost.StartAsync(_dir, null, "--Boot:DefaultChannel=stable", "--Tftp:Enabled=true", $"--Tftp:Endpoint=127.0.0.1:{_tftpPort}", $"--Tftp:Root={_root}");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task ImageFetch_AfterScript_RecordedInTheNodesHistory_HeadIsNot()
    {
        var src = Directory.CreateDirectory(Path.Combine(_dir, "img")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(src, "kernel"), RandomNumberGenerator.GetBytes(40_000));
        await File.WriteAllBytesAsync(Path.Combine(src, "initrd"), RandomNumberGenerator.GetBytes(50_000));
        var store = _host.Service<LiveImageStore>();
        var image = (await store.ImportDirectoryAsync(src, new DirectoryImportOptions { Name = "live", Version = "1" }, "test")).Images[0];
        store.Catalog.Promote("stable", new ImageKey("live", "1"), "test");

        const string mac = "52:54:00:5e:00:01";
        await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative));
        using (var head = new HttpRequestMessage(HttpMethod.Head, new Uri($"/images/{image.Kernel}", UriKind.Relative)))
        {
            (await _host.Http.SendAsync(head)).EnsureSuccessStatusCode();
        }

        Assert.Equal(40_000, (await _host.Http.GetByteArrayAsync(new Uri($"/images/{image.Kernel}", UriKind.Relative))).Length);
        var fetch = await WaitForEventAsync(mac, "ImageFetch");
        Assert.Equal($"image fetch: /images/{image.Kernel} (40000 bytes)", fetch.GetProperty("message").GetString());
        Assert.Single(await EventsAsync(mac), e => e.GetProperty("kind").GetString() == "ImageFetch");
    }

    [Fact]
    [Trait("Tier", "Peer")]
    public async Task Tftp_TransferByRealClient_RecordedForTheNodeAtThatAddress()
    {
        // From an address no node is known at: counted as unattributed.
        var before = Unattributed(await MetricsAsync());
        await TftpGetAsync("ipxe.efi");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (Unattributed(await MetricsAsync()) <= before)
        {
            Assert.True(DateTime.UtcNow < deadline, "the unattributed transfer was not counted");
            await Task.Delay(100);
        }

        // Once a node's script came from 127.0.0.1, that address's transfers are its own.
        const string mac = "52:54:00:5e:00:02";
        await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi", UriKind.Relative));
        await TftpGetAsync("ipxe.efi");
        var tftp = await WaitForEventAsync(mac, "Tftp");
        Assert.StartsWith("TFTP: ipxe.efi sent, 3000 bytes in ", tftp.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private async Task TftpGetAsync(string file)
    {
        var target = Path.Combine(_dir, $"got-{Guid.NewGuid():N}");
        var psi = new ProcessStartInfo("tftp") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "127.0.0.1", _tftpPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-m", "binary", "-c", "get", file, target })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(_root, file)), await File.ReadAllBytesAsync(target));
    }

    private async Task<string> MetricsAsync() => await _host.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));

    private static double Unattributed(string metrics) =>
        metrics.Split('\n').Where(l => l.StartsWith("kldload_boot_steps_unattributed_total{kind=\"Tftp\"}", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();

    private async Task<List<JsonElement>> EventsAsync(string mac) =>
        [.. (await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}/events", UriKind.Relative))).EnumerateArray()];

    private async Task<JsonElement> WaitForEventAsync(string mac, string kind)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            if ((await EventsAsync(mac)).FirstOrDefault(e => e.GetProperty("kind").GetString() == kind) is { ValueKind: JsonValueKind.Object } found)
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, $"no {kind} event for {mac}: {string.Join(" | ", (await EventsAsync(mac)).Select(e => e.GetProperty("message").GetString()))}");
            await Task.Delay(100);
        }
    }
}
