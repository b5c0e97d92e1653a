using Kldload.Dhcp.LoadBalancing;
using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;
using Kldload.Dhcp.Server;

namespace Kldload.Dhcp.Tests.LoadBalancing;

public sealed class ClientHashTests
{
    [Fact]
    public void Table_IsAPermutationOfEveryByte()
    {
        var table = ClientHash.Table;

        Assert.Equal(256, table.Length);
        Assert.Equal(Enumerable.Range(0, 256), table.Select(b => (int)b).Order());
        // RFC 3074 section 6, first and last entries as printed there.
        Assert.Equal([251, 175, 119, 215], table[..4]);
        Assert.Equal([6, 169, 234, 151], table[^4..]);
    }

    [Theory]
    // Worked by hand from section 6: the hash starts at the key's length and mixes from the last byte.
    [InlineData("", 0)] // no byte mixed: the length
    [InlineData("00", 175)] // T[1 ^ 0x00] = T[1]
    [InlineData("01", 251)] // T[1 ^ 0x01] = T[0]
    // Computed by an independent script over the same table (see the commit that added this test).
    [InlineData("525400000001", 149)]
    [InlineData("000c01020304", 131)]
    [InlineData("01525400123456", 253)]
    [InlineData("ffffffffffffffffffffffffffffffff", 105)]
    public void Of_Key_GivesTheRfcBucket(string hex, int bucket)
    {
        Assert.Equal(bucket, ClientHash.Of(Convert.FromHexString(hex)));
    }

    [Fact]
    public void Of_Request_HashesOption61DataWhenPresentElseChaddrHlenBytes()
    {
        var request = new DhcpMessage();
        byte[] mac = [0x52, 0x54, 0x00, 0x00, 0x00, 0x01];
        mac.CopyTo(request.ClientHardwareAddress, 0);
        request.ClientHardwareAddress[10] = 0xee; // beyond hlen: never hashed

        Assert.Equal(ClientHash.Of(mac), ClientHash.Of(request));

        byte[] clientId = [0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        request.Options.Set(DhcpOptionCode.ClientIdentifier, clientId);

        Assert.Equal(253, ClientHash.Of(request));
        Assert.Equal(ClientHash.Of(clientId), ClientHash.Of(request));
    }

    [Fact]
    public void Of_TwentyThousandSequentialMacs_SplitsThemNearlyInHalf()
    {
        // perfdhcp's clients: one base MAC with the last bytes counting up.
        var lower = 0;
        var mac = new byte[] { 0x00, 0x0c, 0x01, 0x02, 0x00, 0x00 };
        for (var i = 0; i < 20000; i++)
        {
            mac[4] = (byte)(i >> 8);
            mac[5] = (byte)i;
            lower += HashBuckets.LowerHalf.Contains(ClientHash.Of(mac)) ? 1 : 0;
        }

        Assert.InRange(lower, 9000, 11000);
    }

    [Fact]
    public void HashBuckets_Halves_PartitionTheBuckets()
    {
        for (var b = 0; b < 256; b++)
        {
            Assert.Equal(b < 128, HashBuckets.LowerHalf.Contains((byte)b));
            Assert.Equal(b >= 128, HashBuckets.UpperHalf.Contains((byte)b));
            Assert.True(HashBuckets.All.Contains((byte)b));
        }

        Assert.Equal(128, HashBuckets.LowerHalf.Count);
        Assert.Equal(128, HashBuckets.UpperHalf.Count);
        Assert.Equal(256, HashBuckets.All.Count);
        Assert.Equal(DhcpLoadBalancingRole.Secondary, DhcpLoadBalancingRole.Primary.Peer());
        Assert.Same(HashBuckets.UpperHalf, DhcpLoadBalancingRole.Secondary.Buckets());
    }

    [Fact]
    public void MayAllocate_PrimaryEvenSecondaryOddNoneAll()
    {
        var even = Ipv4Address.Parse("10.0.0.100");
        var odd = Ipv4Address.Parse("10.0.0.101");

        Assert.True(DhcpLoadBalancingRole.Primary.MayAllocate(even));
        Assert.False(DhcpLoadBalancingRole.Primary.MayAllocate(odd));
        Assert.False(DhcpLoadBalancingRole.Secondary.MayAllocate(even));
        Assert.True(DhcpLoadBalancingRole.Secondary.MayAllocate(odd));
        Assert.True(DhcpLoadBalancingRole.None.MayAllocate(odd));
    }

    [Fact]
    public void SegmentOf_SubnetsInAnyOrder_SameKey()
    {
        var a = new DhcpSubnet { Network = Ipv4Address.Parse("10.1.0.0"), PrefixLength = 24, PoolStart = Ipv4Address.Parse("10.1.0.10"), PoolEnd = Ipv4Address.Parse("10.1.0.20") };
        var b = new DhcpSubnet { Network = Ipv4Address.Parse("10.0.0.0"), PrefixLength = 16, PoolStart = Ipv4Address.Parse("10.0.1.0"), PoolEnd = Ipv4Address.Parse("10.0.2.0") };

        Assert.Equal("10.0.0.0/16,10.1.0.0/24", DhcpPeerLink.SegmentOf([a, b]));
        Assert.Equal(DhcpPeerLink.SegmentOf([a, b]), DhcpPeerLink.SegmentOf([b, a]));
    }
}
