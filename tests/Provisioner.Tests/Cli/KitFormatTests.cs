using System.Text;
using Kldload.Provisioner.Kit;

namespace Kldload.Provisioner.Tests.Cli;

/// <summary>The kit index (<c>kit.json</c>): version order and the names a kit may use.</summary>
public sealed class KitFormatTests
{
    private const string Digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("0.10.0", "0.9.1", 1)]
    [InlineData("0.1.0", "0.1.0", 0)]
    [InlineData("0.1.0-rc1", "0.1.0", -1)]
    [InlineData("1.0", "1.0.0", 0)]
    [InlineData("0.2.0", "0.10.0", -1)]
    public void CompareVersions_NumericPartsAndPreRelease_Ordered(string a, string b, int expected)
        => Assert.Equal(expected, Math.Sign(KitVersion.CompareVersions(a, b)));

    [Fact]
    public void KitVersion_SameKldloadLaterCreated_IsNewer()
    {
        var t = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
        Assert.True(new KitVersion("0.1.0", t.AddSeconds(1)).CompareTo(new KitVersion("0.1.0", t)) > 0);
        Assert.True(new KitVersion("0.2.0", t).CompareTo(new KitVersion("0.1.0", t.AddDays(30))) > 0);
    }

    [Fact]
    public void Parse_WrittenIndex_RoundTrips()
    {
        var index = new KitIndex(new KitVersion("0.1.0", new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero)), "abc",
        [
            new KitEntry { Kind = KitEntryKind.Loader, Path = "loaders/tftp/efi/snponly.efi", Name = "efi/snponly.efi", Size = 3, Sha256 = Digest, Target = KitLoaderTargets.Tftp },
            new KitEntry { Kind = KitEntryKind.ImageBundle, Path = "images/live_1.bundle.tar", Name = "live_1.bundle.tar", Size = 9, Sha256 = Digest, Image = "live/1", Channels = ["stable", "testing"] },
        ]);
        var read = KitIndex.Parse(Encoding.UTF8.GetBytes(index.ToJson().ToJsonString()));
        Assert.Equal(0, read.Version.CompareTo(index.Version));
        Assert.Equal(index.Entries[0] with { Channels = [] }, read.Entries[0] with { Channels = [] });
        Assert.Equal(["stable", "testing"], read.Entries[1].Channels);
    }

    [Theory]
    [InlineData("ek-root", "ek-roots/../../etc/passwd", "x.pem", null)]
    [InlineData("ek-root", "ek-roots/x.pem", "../x.pem", null)]
    [InlineData("ek-root", "/etc/x.pem", "x.pem", null)]
    [InlineData("package", "package/a.deb", "sub/a.deb", null)]
    [InlineData("loader", "loaders/tftp/a.efi", "../a.efi", "tftp")]
    [InlineData("loader", "loaders/x/a.efi", "a.efi", "elsewhere")]
    [InlineData("loader", "kit.sig", "a.efi", "tftp")]
    [InlineData("firmware", "f/a.bin", "a.bin", null)]
    public void Parse_UnsafeNameOrPath_Refused(string kind, string path, string name, string? target)
    {
        var json = $$"""
            { "format": "kldload-kit/1", "kldloadVersion": "0.1.0", "created": "2026-12-07T12:00:00Z",
              "entries": [ { "kind": "{{kind}}", "path": "{{path}}", "name": "{{name}}", "size": 1, "sha256": "{{Digest}}"{{(target is null ? string.Empty : $", \"target\": \"{target}\"")}} } ] }
            """;
        Assert.Throws<KitException>(() => KitIndex.Parse(Encoding.UTF8.GetBytes(json)));
    }

    [Theory]
    [InlineData("package", null, "package", null)]
    [InlineData("loader", "shimx64", "loader", "shimx64")]
    [InlineData("loader", "tftp", "loader", "tftp", true)]
    [InlineData("loader", "shimx64", "loader", "grubx64", true)]
    public void Parse_TwoEntriesForOnePlace_Refused(string kind1, string? target1, string kind2, string? target2, bool accepted = false)
    {
        static string Entry(string kind, string? target, int n) => $$"""
            { "kind": "{{kind}}", "path": "p/{{n}}", "name": "f{{n}}.bin", "size": 1, "sha256": "{{Digest}}"{{(target is null ? string.Empty : $", \"target\": \"{target}\"")}} }
            """;
        var json = $$"""
            { "format": "kldload-kit/1", "kldloadVersion": "0.1.0", "created": "2026-12-07T12:00:00Z",
              "entries": [ {{Entry(kind1, target1, 1)}}, {{Entry(kind2, target2, 2)}} ] }
            """;
        if (accepted)
        {
            Assert.Equal(2, KitIndex.Parse(Encoding.UTF8.GetBytes(json)).Entries.Count);
        }
        else
        {
            Assert.Throws<KitException>(() => KitIndex.Parse(Encoding.UTF8.GetBytes(json)));
        }
    }
}
