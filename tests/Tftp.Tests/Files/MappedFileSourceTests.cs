using Kldload.Tftp.Files;

namespace Kldload.Tftp.Tests.Files;

/// <summary>Files outside the root under fixed names (Debian's signed shim and GRUB, issue 19).</summary>
public sealed class MappedFileSourceTests : IDisposable
{
    private readonly TempDirectory _packages = new();

    public void Dispose() => _packages.Dispose();

    private MappedFileSource Source() => new MappedFileSource()
        .Map("shimx64.efi", _packages.Write("shimx64.efi.signed", "shim"u8.ToArray()))
        .Map("grubx64.efi", Path.Combine(_packages.Path, "missing.efi.signed"));

    [Theory]
    [InlineData("shimx64.efi")]
    [InlineData("/shimx64.efi")]
    public void Open_MappedName_ServesTheMappedFile(string name)
    {
        var lookup = Source().Open(name);
        Assert.Equal(TftpFileStatus.Found, lookup.Status);
        using var file = lookup.File!;
        using var copy = new MemoryStream();
        file.Content.CopyTo(copy);
        Assert.Equal("shim"u8.ToArray(), copy.ToArray());
        Assert.Equal(4, file.Length);
        Assert.True(file.IsUnchanged());
    }

    [Theory]
    [InlineData("shimx64.efi.signed")]
    [InlineData("SHIMX64.EFI")]
    [InlineData("other.efi")]
    public void Open_AnyOtherName_NotFound(string name) => Assert.Equal(TftpFileStatus.NotFound, Source().Open(name).Status);

    [Fact]
    public void Open_MappedFileMissing_NotFoundNamingThePath()
    {
        var lookup = Source().Open("grubx64.efi");
        Assert.Equal(TftpFileStatus.NotFound, lookup.Status);
        Assert.Contains("missing.efi.signed", lookup.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../shimx64.efi")]
    [InlineData("a/../../shimx64.efi")]
    public void Open_Traversal_Refused(string name) => Assert.Equal(TftpFileStatus.Refused, Source().Open(name).Status);

    [Fact]
    public void Open_MappedToADirectoryOrDevice_NotServed()
    {
        var source = new MappedFileSource().Map("dir.efi", _packages.Path).Map("null.efi", "/dev/null");
        Assert.NotEqual(TftpFileStatus.Found, source.Open("dir.efi").Status);
        Assert.Equal(TftpFileStatus.Refused, source.Open("null.efi").Status);
    }

    [Fact]
    public void Map_RelativePath_Throws() => Assert.Throws<ArgumentException>(() => new MappedFileSource().Map("x.efi", "relative/x.efi"));

    [Fact]
    public void Open_FileChangedDuringTransfer_IsUnchangedFalse()
    {
        var path = _packages.Write("grow.efi", [1, 2, 3]);
        var lookup = new MappedFileSource().Map("grow.efi", path).Open("grow.efi");
        using var file = lookup.File!;
        File.AppendAllText(path, "more");
        Assert.False(file.IsUnchanged());
    }
}
