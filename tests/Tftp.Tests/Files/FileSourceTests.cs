using System.Diagnostics;
using System.Text;
using Kldload.Tftp.Files;

namespace Kldload.Tftp.Tests.Files;

public sealed class FileSourceTests : IDisposable
{
    private readonly TempDirectory _root = new();
    private readonly TempDirectory _outside = new();

    public FileSourceTests()
    {
        _root.Write("ipxe.efi", "loader"u8.ToArray());
        _root.Write("sub/dir/file.bin", [1, 2, 3]);
        _outside.Write("secret", "secret"u8.ToArray());
    }

    public void Dispose()
    {
        _root.Dispose();
        _outside.Dispose();
    }

    [Theory]
    [InlineData("ipxe.efi")]
    [InlineData("/ipxe.efi")]
    [InlineData("./ipxe.efi")]
    public void Open_NameInRoot_Found(string name)
    {
        var lookup = new RootDirectoryFileSource(_root.Path).Open(name);
        Assert.Equal(TftpFileStatus.Found, lookup.Status);
        using var file = lookup.File!;
        Assert.Equal(6, file.Length);
        Assert.Equal("loader", new StreamReader(file.Content).ReadToEnd());
    }

    [Fact]
    public void Open_AbsolutePathUnderRoot_Found()
    {
        var lookup = new RootDirectoryFileSource(_root.Path).Open(_root.Path + "/sub/dir/file.bin");
        Assert.Equal(TftpFileStatus.Found, lookup.Status);
        lookup.File!.Dispose();
    }

    [Theory]
    [InlineData("../secret")]
    [InlineData("sub/../../secret")]
    [InlineData("sub/..")]
    [InlineData("//etc/passwd")]
    [InlineData("sub\\dir\\file.bin")]
    [InlineData("ipxe.efi\u0001")]
    [InlineData("ipxe\n.efi")]
    [InlineData("ipxe.efi\0.txt")]
    [InlineData("sub")]
    public void Open_UnsafeName_Refused(string name)
    {
        var lookup = new RootDirectoryFileSource(_root.Path).Open(name);
        Assert.Equal(TftpFileStatus.Refused, lookup.Status);
        Assert.NotNull(lookup.Reason);
    }

    [Fact]
    public void Open_OutsideViaRelativeTraversalToOtherTree_Refused()
    {
        var name = Path.GetRelativePath(_root.Path, Path.Combine(_outside.Path, "secret"));
        Assert.StartsWith("..", name, StringComparison.Ordinal);
        Assert.Equal(TftpFileStatus.Refused, new RootDirectoryFileSource(_root.Path).Open(name).Status);
    }

    [Fact]
    public void Open_Missing_NotFound()
    {
        Assert.Equal(TftpFileStatus.NotFound, new RootDirectoryFileSource(_root.Path).Open("nope.efi").Status);
        Assert.Equal(TftpFileStatus.NotFound, new RootDirectoryFileSource(_root.Path).Open("/etc/passwd").Status);
    }

    [Fact]
    public void Open_SymlinkInsideRoot_Found()
    {
        File.CreateSymbolicLink(Path.Combine(_root.Path, "link.efi"), "sub/dir/file.bin");
        var lookup = new RootDirectoryFileSource(_root.Path).Open("link.efi");
        Assert.Equal(TftpFileStatus.Found, lookup.Status);
        lookup.File!.Dispose();
    }

    [Fact]
    public void Open_SymlinkOutsideRoot_Refused()
    {
        File.CreateSymbolicLink(Path.Combine(_root.Path, "escape"), Path.Combine(_outside.Path, "secret"));
        Directory.CreateSymbolicLink(Path.Combine(_root.Path, "escapedir"), _outside.Path);
        var source = new RootDirectoryFileSource(_root.Path);
        Assert.Equal(TftpFileStatus.Refused, source.Open("escape").Status);
        Assert.Equal(TftpFileStatus.Refused, source.Open("escapedir/secret").Status);
    }

    [Fact]
    public void Open_RootItselfASymlink_ServesItsFiles()
    {
        var link = Path.Combine(_outside.Path, "rootlink");
        Directory.CreateSymbolicLink(link, _root.Path);
        var lookup = new RootDirectoryFileSource(link).Open("ipxe.efi");
        Assert.Equal(TftpFileStatus.Found, lookup.Status);
        lookup.File!.Dispose();
    }

    [Fact]
    public void Open_DeviceOrFifo_Refused()
    {
        File.CreateSymbolicLink(Path.Combine(_root.Path, "zero"), "/dev/zero");
        using (var mkfifo = Process.Start("mkfifo", Path.Combine(_root.Path, "fifo")))
        {
            Assert.True(mkfifo.WaitForExit(10_000));
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var source = new RootDirectoryFileSource("/dev");
        Assert.Equal(TftpFileStatus.Refused, source.Open("null").Status);
        var inRoot = new RootDirectoryFileSource(_root.Path);
        Assert.Equal(TftpFileStatus.Refused, inRoot.Open("zero").Status);

        // Opening a FIFO must neither hang nor be served.
        Assert.Equal(TftpFileStatus.Refused, inRoot.Open("fifo").Status);
    }

    [Fact]
    public void Open_FileReplacedByRenameDuringTransfer_KeepsOldContent()
    {
        _root.Write("boot.ipxe", Encoding.ASCII.GetBytes(new string('a', 10_000)));
        var lookup = new RootDirectoryFileSource(_root.Path).Open("boot.ipxe");
        using var file = lookup.File!;
        var head = new byte[100];
        file.Content.ReadExactly(head);

        var replacement = _root.Write("boot.ipxe.new", Encoding.ASCII.GetBytes(new string('b', 10_000)));
        File.Move(replacement, Path.Combine(_root.Path, "boot.ipxe"), overwrite: true);

        var rest = new StreamReader(file.Content).ReadToEnd();
        Assert.Equal(new string('a', 9_900), rest);
        Assert.True(file.IsUnchanged());
    }

    [Fact]
    public void Open_FileRewrittenInPlace_IsUnchangedFalse()
    {
        var path = _root.Write("inplace.bin", new byte[4096]);
        var lookup = new RootDirectoryFileSource(_root.Path).Open("inplace.bin");
        using var file = lookup.File!;
        Assert.True(file.IsUnchanged());
        using (var writer = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            writer.SetLength(100);
        }

        Assert.False(file.IsUnchanged());
    }

    [Fact]
    public void Generated_MappedName_FoundWithFreshContent()
    {
        var counter = 0;
        var source = new GeneratedFileSource().Map("boot.ipxe", () => Encoding.ASCII.GetBytes($"#!ipxe\n# {++counter}\n"));
        using (var first = source.Open("/boot.ipxe").File!)
        {
            Assert.Equal("#!ipxe\n# 1\n", new StreamReader(first.Content).ReadToEnd());
        }

        Assert.Equal(TftpFileStatus.NotFound, source.Open("other").Status);
        Assert.Equal(TftpFileStatus.Refused, source.Open("../boot.ipxe").Status);
    }

    [Fact]
    public void Composite_GeneratedThenRoot_FirstAnswerWins()
    {
        var source = new CompositeFileSource(
            new GeneratedFileSource().Map("ipxe.efi", () => "generated"u8.ToArray()),
            new RootDirectoryFileSource(_root.Path));
        using (var file = source.Open("ipxe.efi").File!)
        {
            Assert.Equal("generated", new StreamReader(file.Content).ReadToEnd());
        }

        var fromRoot = source.Open("sub/dir/file.bin");
        Assert.Equal(TftpFileStatus.Found, fromRoot.Status);
        fromRoot.File!.Dispose();
        Assert.Equal(TftpFileStatus.NotFound, source.Open("missing").Status);
        Assert.Equal(TftpFileStatus.Refused, source.Open("../x").Status);
    }
}
