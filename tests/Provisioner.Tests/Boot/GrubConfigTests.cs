using Kldload.Provisioner.Boot;

namespace Kldload.Provisioner.Tests.Boot;

/// <summary>GRUB configurations of the signed path, rendered in full; values cannot inject GRUB commands.</summary>
public sealed class GrubConfigTests
{
    private static readonly Uri Server = new("http://10.77.0.1:8080/");

    private static GrubBoot Boot(string cmdline = "console=ttyS0,115200 panic=10", string name = "node-1") =>
        new("n1", name, "kldload-live", "1", new string('a', 64), new string('b', 64), cmdline, "tok", "default channel stable (Boot:DefaultChannel)");

    [Fact]
    public void Bootstrap_RendersTheFullText()
    {
        Assert.Equal(
            "# kldload: GRUB network boot (Boot:Loader=grub); the node's own configuration is grub/node/MAC.cfg\n"
            + "set timeout=0\n"
            + "echo 'kldload: GRUB reads the configuration of this node'\n"
            + "configfile \"$prefix/node/${net_default_mac}.cfg\"\n",
            GrubConfig.Bootstrap());
    }

    [Fact]
    public void Boot_RendersTheFullText()
    {
        var a = new string('a', 64);
        var b = new string('b', 64);
        Assert.Equal(
            "# kldload: node node-1 (n1) boots kldload-live 1: default channel stable (Boot:DefaultChannel)\n"
            + "echo 'kldload: booting kldload-live 1 on node-1'\n"
            + $"linux /images/{a} 'console=ttyS0,115200' 'panic=10' 'kldload.server=http://10.77.0.1:8080' 'kldload.token=tok'\n"
            + $"initrd /images/{b}\n"
            + "boot\n",
            GrubConfig.Boot(Server, Boot()));
        Assert.Equal($"BOOT_IMAGE=/images/{a} console=ttyS0,115200 panic=10 kldload.server=http://10.77.0.1:8080 kldload.token=tok", GrubConfig.LoadOptions(Server, Boot()));
    }

    [Fact]
    public void NoImage_RendersTheFullText()
    {
        Assert.Equal(
            "# kldload: node node-1 (n1) has nothing to boot: no image assigned\n"
            + "echo 'kldload: node node-1 (n1) is recorded but has no image to boot.'\n"
            + "echo 'kldload: no image assigned'\n"
            + "echo 'kldload: assign one (kldload nodes reimage n1 --channel NAME) or set Boot:DefaultChannel; retrying in 60 s.'\n"
            + "sleep 60\n"
            + "configfile \"$prefix/node/52:54:00:00:00:01.cfg\"\n",
            GrubConfig.NoImage("52:54:00:00:00:01", "n1", "node-1", "no image assigned"));
    }

    [Theory]
    [InlineData("x=$(reboot)", "'x=$(reboot)'")]
    [InlineData("a;reboot", "'a;reboot'")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("${prefix}", "'${prefix}'")]
    public void Quote_ShellCharacters_StayOneLiteralWord(string value, string expected) => Assert.Equal(expected, GrubConfig.Quote(value));

    [Fact]
    public void Boot_KernelArgumentsWithGrubSyntax_AreQuotedNotRun()
    {
        var text = GrubConfig.Boot(Server, Boot("quiet;reboot x=${root}"));
        var linux = text.Split('\n').Single(l => l.StartsWith("linux ", StringComparison.Ordinal));
        Assert.Contains(" 'quiet;reboot' 'x=${root}' ", linux, StringComparison.Ordinal);
        Assert.Equal(5, text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Theory]
    [InlineData("node\nreboot")]
    [InlineData("node\rx")]
    public void Boot_ControlCharacterInAValue_Throws(string name) => Assert.Throws<ArgumentException>(() => GrubConfig.Boot(Server, Boot(name: name)));

    [Fact]
    public void Boot_DigestNotHex_Throws() =>
        Assert.Throws<ArgumentException>(() => GrubConfig.Boot(Server, Boot() with { KernelDigest = "../../etc/passwd" }));
}
