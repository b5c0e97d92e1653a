namespace Kldload.Dhcp.Tests;

public class ClientArchitectureTests
{
    [Theory]
    [InlineData(ClientArchitecture.X86Bios, 0)]
    [InlineData(ClientArchitecture.EfiX64, 7)]
    [InlineData(ClientArchitecture.EfiBc, 9)]
    [InlineData(ClientArchitecture.EfiArm64, 11)]
    [InlineData(ClientArchitecture.EfiX64Http, 16)]
    public void Value_MatchesIanaRegistry(ClientArchitecture arch, ushort expected)
        => Assert.Equal(expected, (ushort)arch);

    [Fact]
    public void MessageType_RequestIsThree_PerRfc2132()
        => Assert.Equal(3, (byte)DhcpMessageType.Request);
}
