using System.Net;

namespace Kldload.Agent.Tests;

public class MeshConfigurationTests
{
    private const string WgQuick = """
        # kldload mesh: n1, epoch 3, key epoch 0, 1 peers, 0 revoked keys
        [Interface]
        Address = fd12:3456:789a:1::7/64, 100.64.0.7/16

        # hub
        [Peer]
        PublicKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
        AllowedIPs = fd12:3456:789a:1::/64
        Endpoint = 10.0.0.1:51820
        PersistentKeepalive = 25
        """;

    [Fact]
    public void TryParse_WgQuickConfig_SplitsAddressesFromSetConf()
    {
        var mesh = MeshConfiguration.TryParse(WgQuick, out var error);

        Assert.Null(error);
        Assert.NotNull(mesh);
        Assert.Equal(["fd12:3456:789a:1::7/64", "100.64.0.7/16"], mesh.Addresses);
        Assert.DoesNotContain("Address", mesh.SetConf, StringComparison.Ordinal);
        Assert.Contains("[Interface]", mesh.SetConf, StringComparison.Ordinal);
        Assert.Contains("Endpoint = 10.0.0.1:51820", mesh.SetConf, StringComparison.Ordinal);
        Assert.Equal("fd12:3456:789a:1::7", mesh.NodeAddress6);
    }

    [Fact]
    public void TryParse_WgQuickConfig_HubIsInterfaceIdOne()
    {
        var mesh = MeshConfiguration.TryParse(WgQuick, out _);

        Assert.Equal(IPAddress.Parse("fd12:3456:789a:1::1"), mesh!.HubAddress);
    }

    [Fact]
    public void TryParse_NoIpv6Address_Fails()
    {
        var mesh = MeshConfiguration.TryParse("[Interface]\nAddress = 100.64.0.7/16\n", out var error);

        Assert.Null(mesh);
        Assert.Contains("IPv6", error, StringComparison.Ordinal);
    }

    [Fact]
    public void SetConf_MergedWithPrivateKey_CarriesKeyOnce()
    {
        var mesh = MeshConfiguration.TryParse(WgQuick, out _)!;
        var merged = Kldload.MeshCA.Distribution.WireGuardConfigRenderer.MergePrivateKey(mesh.SetConf, new byte[32]);

        Assert.Single(merged.Split('\n'), l => l.StartsWith("PrivateKey = ", StringComparison.Ordinal));
    }
}
