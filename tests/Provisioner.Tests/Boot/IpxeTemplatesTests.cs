using Kldload.Provisioner.Boot;

namespace Kldload.Provisioner.Tests.Boot;

public class IpxeTemplatesTests
{
    private static readonly IpxeTemplates Templates = IpxeTemplates.Load();

    private static Dictionary<string, string> Values() => new()
    {
        ["server"] = "http://10.0.0.1:8080",
        ["mac"] = "52:54:00:12:34:56",
        ["node_id"] = "0123456789ab",
        ["node_name"] = "node-123456",
        ["explanation"] = "channel stable of profile rack1",
        ["image_name"] = "live",
        ["image_version"] = "1.0",
        ["kernel_digest"] = "k",
        ["initrd_digest"] = "i",
        ["cmdline"] = "console=ttyS0",
        ["token"] = "TOKEN_-1",
    };

    [Theory]
    [InlineData("boot.efi")]
    [InlineData("boot.pcbios")]
    [InlineData("chain")]
    [InlineData("noimage")]
    public void Load_Embedded_SameAsRepositoryFiles(string name)
    {
        var fromFiles = IpxeTemplates.Load(Path.Combine(RepositoryPaths.Root, "ipxe"));

        Assert.Equal(fromFiles.Render(name, Values()), Templates.Render(name, Values()));
    }

    [Fact]
    public void Render_Efi_HasInitrdArgumentOnKernelLine()
    {
        const string expected = """
            #!ipxe
            # kldload: node node-123456 (0123456789ab) boots live 1.0: channel stable of profile rack1
            echo kldload: booting live 1.0 on node-123456
            kernel http://10.0.0.1:8080/images/k initrd=initrd console=ttyS0 kldload.server=http://10.0.0.1:8080 kldload.token=TOKEN_-1
            initrd --name initrd http://10.0.0.1:8080/images/i
            boot

            """;
        Assert.Equal(expected, Templates.Render("boot.efi", Values()));
    }

    [Fact]
    public void Render_Bios_HasNoInitrdArgumentAndSkipsEdd()
    {
        const string expected = """
            #!ipxe
            # kldload: node node-123456 (0123456789ab) boots live 1.0: channel stable of profile rack1
            echo kldload: booting live 1.0 on node-123456
            kernel http://10.0.0.1:8080/images/k edd=off console=ttyS0 kldload.server=http://10.0.0.1:8080 kldload.token=TOKEN_-1
            initrd http://10.0.0.1:8080/images/i
            boot

            """;
        Assert.Equal(expected, Templates.Render("boot.pcbios", Values()));
    }

    [Fact]
    public void Render_Chain_ChainsBackWithIpxeVariables()
    {
        const string expected = """
            #!ipxe
            chain http://10.0.0.1:8080/boot.ipxe?mac=${mac}&uuid=${uuid}&arch=${buildarch}&platform=${platform}&serial=${serial:uristring}&manufacturer=${manufacturer:uristring}&product=${product:uristring}

            """;
        Assert.Equal(expected, Templates.Render("chain", new Dictionary<string, string> { ["server"] = "http://10.0.0.1:8080" }));
    }

    [Fact]
    public void Render_ValueWithNewline_IsRefused()
    {
        var values = Values();
        values["cmdline"] = "quiet\nshell";
        Assert.Throws<ArgumentException>(() => Templates.Render("boot.efi", values));
    }

    [Fact]
    public void Render_MissingValue_IsRefused()
    {
        var values = Values();
        values.Remove("token");
        Assert.Throws<KeyNotFoundException>(() => Templates.Render("boot.efi", values));
    }
}
