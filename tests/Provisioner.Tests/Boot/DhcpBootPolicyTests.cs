using Kldload.Dhcp;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Tests.Boot;

/// <summary>The DHCP boot answer per client kind and loader chain (issue 19: <c>Boot:Loader</c>).</summary>
public sealed class DhcpBootPolicyTests
{
    private static readonly Uri Server = new("http://10.77.0.1:8080/");
    private static readonly BootLoaderSettings Loaders = new();

    private static BootClient Pxe(ClientArchitecture? arch) => new() { HardwareAddress = "52:54:00:00:00:01", IsPxeClient = true, Architecture = arch };

    [Theory]
    [InlineData(ClientArchitecture.EfiX64, BootLoaderKind.Ipxe, "snponly.efi")]
    [InlineData(ClientArchitecture.EfiBc, BootLoaderKind.Ipxe, "snponly.efi")]
    [InlineData(ClientArchitecture.EfiX64, BootLoaderKind.Grub, "shimx64.efi")]
    [InlineData(ClientArchitecture.EfiBc, BootLoaderKind.Grub, "shimx64.efi")]
    [InlineData(ClientArchitecture.X86Bios, BootLoaderKind.Grub, "undionly.kpxe")]
    [InlineData(ClientArchitecture.X86Bios, BootLoaderKind.Ipxe, "undionly.kpxe")]
    public void Decide_PxeClient_LoaderByArchitectureAndChain(ClientArchitecture arch, BootLoaderKind kind, string expected)
    {
        var answer = DhcpBootPolicy.Decide(Pxe(arch), Loaders, kind, Server);
        Assert.Equal(expected, answer!.BootFile);
        Assert.Equal("PXEClient", answer.VendorClass);
    }

    [Theory]
    [InlineData(BootLoaderKind.Ipxe, "http://10.77.0.1:8080/tftp/snponly.efi")]
    [InlineData(BootLoaderKind.Grub, "http://10.77.0.1:8080/tftp/shimx64.efi")]
    public void Decide_UefiHttpClient_UrlToTheChainsLoader(BootLoaderKind kind, string expected)
    {
        var client = new BootClient { HardwareAddress = "52:54:00:00:00:02", IsHttpClient = true, Architecture = ClientArchitecture.EfiX64Http };
        var answer = DhcpBootPolicy.Decide(client, Loaders, kind, Server);
        Assert.Equal(expected, answer!.BootFile);
        Assert.Equal("HTTPClient", answer.VendorClass);
    }

    [Fact]
    public void Decide_IpxeItself_AlwaysBootIpxe()
    {
        var client = new BootClient { HardwareAddress = "52:54:00:00:00:03", IsIpxe = true, IsPxeClient = true, Architecture = ClientArchitecture.EfiX64 };
        Assert.Equal("http://10.77.0.1:8080/boot.ipxe", DhcpBootPolicy.Decide(client, Loaders, BootLoaderKind.Grub, Server)!.BootFile);
    }

    [Fact]
    public void Decide_UnknownArchitecture_NoAnswerOnEitherChain()
    {
        Assert.Null(DhcpBootPolicy.Decide(Pxe(ClientArchitecture.Itanium), Loaders, BootLoaderKind.Grub, Server));
        Assert.Null(DhcpBootPolicy.Decide(Pxe(ClientArchitecture.Itanium), Loaders, BootLoaderKind.Ipxe, Server));
    }
}
