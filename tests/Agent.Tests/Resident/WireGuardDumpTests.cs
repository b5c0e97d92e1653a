using Kldload.Agent.Resident;

namespace Kldload.Agent.Tests.Resident;

/// <summary><c>wg show IFACE dump</c> as the resident agent reads it for its liveness report and its peer changes.</summary>
public class WireGuardDumpTests
{
    // wg(8) "dump": the interface line, then one line per peer, tab-separated.
    private const string Dump =
        "(hidden)\tVvQ2QWIgkH0ovQ2yRXyhWwCvygIlngqRRrlkaoRbnCs=\t51820\toff\n" +
        "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\t(none)\t192.0.2.1:51820\tfd12:3456:789a:1::/64\t1765070000\t12345\t67890\t25\n" +
        "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\t(none)\t(none)\tfd12:3456:789a:1::b/128,100.64.0.11/32\t0\t0\t0\toff\n";

    [Fact]
    public void ParsePeers_TwoPeers_FieldsRead()
    {
        var peers = WireGuardDump.ParsePeers(Dump);
        Assert.Equal(2, peers.Count);
        Assert.Equal("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", peers[0].PublicKey);
        Assert.Equal("192.0.2.1:51820", peers[0].Endpoint);
        Assert.Equal(["fd12:3456:789a:1::/64"], peers[0].AllowedIps);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1765070000), peers[0].LastHandshake);
        Assert.Equal((12345L, 67890L, 25), (peers[0].RxBytes, peers[0].TxBytes, peers[0].Keepalive));
        Assert.Null(peers[1].Endpoint);
        Assert.Null(peers[1].LastHandshake);
        Assert.Equal(["fd12:3456:789a:1::b/128", "100.64.0.11/32"], peers[1].AllowedIps);
        Assert.Equal(0, peers[1].Keepalive);
        Assert.Equal(51820, WireGuardDump.ListenPort(Dump));
    }

    [Fact]
    public void ParsePeers_EveryTruncation_NoExceptionAndNoHalfPeer()
    {
        for (var i = 0; i < Dump.Length; i++)
        {
            var peers = WireGuardDump.ParsePeers(Dump[..i]);
            Assert.All(peers, p => Assert.Equal(44, p.PublicKey.Length));
            Assert.True(peers.Count <= 2);
        }
    }

    [Fact]
    public void ParsePeers_InterfaceLineOnly_NoPeersAndAnyPortIsNull()
    {
        Assert.Empty(WireGuardDump.ParsePeers("(hidden)\tkey=\t0\toff\n"));
        Assert.Null(WireGuardDump.ListenPort("(hidden)\tkey=\t0\toff\n"));
    }
}
