namespace Kldload.Agent.Tests;

public class KernelCommandLineTests
{
    [Fact]
    public void Parse_KldloadParameters_AreRead()
    {
        var c = KernelCommandLine.Parse("initrd=initrd console=ttyS0 kldload.server=http://10.0.0.1:8080 kldload.token=abc_DEF-123 quiet\n");
        Assert.Equal(new Uri("http://10.0.0.1:8080"), c.ServerUrl);
        Assert.Equal("abc_DEF-123", c.BootToken);
        Assert.Equal("ttyS0", c.Parameters["console"]);
        Assert.Equal(string.Empty, c.Parameters["quiet"]);
    }

    [Theory]
    [InlineData("console=ttyS0")]
    [InlineData("kldload.server=ftp://x kldload.token=t")]
    [InlineData("kldload.server=not-a-url kldload.token=t")]
    public void Parse_MissingOrBadServer_IsNull(string line) => Assert.Null(KernelCommandLine.Parse(line).ServerUrl);

    [Fact]
    public void Parse_EmptyToken_IsNull() => Assert.Null(KernelCommandLine.Parse("kldload.token=").BootToken);

    [Theory]
    [InlineData("kldload.server=http://x kldload.token=t kldload.repin=1", true)]
    [InlineData("kldload.server=http://x kldload.token=t", false)]
    [InlineData("kldload.repin=0", false)]
    [InlineData("kldload.repin", false)]
    [InlineData("kldload.repin=yes", false)]
    public void Parse_RepinFlag_OnlyExactlyOne(string line, bool expected) => Assert.Equal(expected, KernelCommandLine.Parse(line).Repin);

    [Theory]
    [InlineData("kldload.server=http://x kldload.token=t kldload.burnin=300", 300)]
    [InlineData("kldload.burnin=1", 1)]
    [InlineData("kldload.burnin=86400", 86400)]
    [InlineData("kldload.server=http://x kldload.token=t", null)]
    [InlineData("kldload.burnin=0", null)]
    [InlineData("kldload.burnin=86401", null)]
    [InlineData("kldload.burnin=-5", null)]
    [InlineData("kldload.burnin=5m", null)]
    [InlineData("kldload.burnin", null)]
    public void Parse_BurnIn_WholeSecondsWithinADay(string line, int? expected) => Assert.Equal(expected, KernelCommandLine.Parse(line).BurnInSeconds);
}
