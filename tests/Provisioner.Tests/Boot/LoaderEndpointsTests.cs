using System.Net;

namespace Kldload.Provisioner.Tests.Boot;

/// <summary>UEFI HTTP boot fetches the loader from /tftp/ over HTTP: same files and rules as TFTP.</summary>
[Trait("Tier", "Integration")]
public sealed class LoaderEndpointsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-loader-").FullName;
    private string _root = null!;
    private TestHost _host = null!;

    public async Task InitializeAsync()
    {
        _root = Directory.CreateDirectory(Path.Combine(_dir, "loaders")).FullName;
        File.WriteAllBytes(Path.Combine(_root, "ipxe.efi"), [0x4D, 0x5A, 1, 2, 3]);
        File.CreateSymbolicLink(Path.Combine(_root, "escape"), "/etc/hostname");
        int port;
        using (var probe = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            port = ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
        }

        _host = await TestHost.StartAsync(_dir, null, "--Tftp:Enabled=true", $"--Tftp:Endpoint=127.0.0.1:{port}", $"--Tftp:Root={_root}");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Get_LoaderInRoot_ServesItsBytes()
        => Assert.Equal([0x4D, 0x5A, 1, 2, 3], await _host.Http.GetByteArrayAsync(new Uri("/tftp/ipxe.efi", UriKind.Relative)));

    [Theory]
    [InlineData("/tftp/escape")]
    [InlineData("/tftp/missing.efi")]
    [InlineData("/tftp/%2e%2e/%2e%2e/etc/passwd")]
    [InlineData("/tftp/sub%5c..%5c..%5cetc%5cpasswd")]
    public async Task Get_OutsideRootOrMissing_IsNotServed(string path)
    {
        var r = await _host.Http.GetAsync(new Uri(path, UriKind.Relative));
        Assert.True(r.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Forbidden, $"{path}: {r.StatusCode}");
    }
}
